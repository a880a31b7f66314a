"""Lists the pretrained models of the zoo.

Shows each checkpoint's zoo name, architecture, sample rate, trainable
parameters, multi-adds per 10-s clip and AudioSet mAP, and whether keras_panns
can build it yet.

Example:
  keras-panns models
"""

USAGE = ""


def define_flags(fv):
    del fv  # no flags


def run(args, fv):
    from keras_panns.cli.common import no_arguments
    from keras_panns.hub import zoo

    no_arguments(args)
    built_names = zoo.built_architectures()  # from the models' source: no Keras import to list cards
    print(f"{'name':<26} {'architecture':<24} {'rate':>6} {'params':>12} {'GFLOPs':>7} {'mAP':>6}  built")
    for name in zoo.list_models():
        card = zoo.get_card(name)
        madds = f"{card.multi_adds_g:.2f}" if card.multi_adds_g else "-"
        built = "yes" if card.architecture in built_names else "not yet"
        print(
            f"{name:<26} {card.architecture:<24} {card.sample_rate:>6} {card.params:>12,} {madds:>7} "
            f"{card.metrics.get('mAP', 0):>6.3f}  {built}"
        )
    return 0
