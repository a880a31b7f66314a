"""Golden fixture model name -> (architecture, constructor kwargs) for the Keras port."""

LOGMEL_KEYS = ("sample_rate", "window_size", "hop_size", "mel_bins", "fmin", "fmax")

CNN_CASES = {
    "Cnn6": ("Cnn6", {}),
    "Cnn10": ("Cnn10", {}),
    "Cnn14": ("Cnn14", {}),
    "Cnn14_no_specaug": ("Cnn14", {"spec_augment": False}),
    "Cnn14_no_dropout": ("Cnn14", {"block_dropout": 0.0}),
    "Cnn14_emb512": ("Cnn14", {"embedding_size": 512}),
    "Cnn14_emb128": ("Cnn14", {"embedding_size": 128}),
    "Cnn14_emb32": ("Cnn14", {"embedding_size": 32}),
    "Cnn14_mel32": ("Cnn14", {}),
    "Cnn14_mel128": ("Cnn14", {}),
    "Cnn14_16k": ("Cnn14", {}),
    "Cnn14_8k": ("Cnn14", {}),
    "Cnn14_mixup_time_domain": ("Cnn14", {}),
    "ResNet22": ("ResNet22", {}),
    "ResNet38": ("ResNet38", {}),
    "ResNet54": ("ResNet54", {}),
    "MobileNetV1": ("MobileNetV1", {}),
    "MobileNetV2": ("MobileNetV2", {}),
    "Cnn14_DecisionLevelMax": ("Cnn14_DecisionLevelMax", {}),
    "Cnn14_DecisionLevelAvg": ("Cnn14_DecisionLevelAvg", {}),
    "Cnn14_DecisionLevelAtt": ("Cnn14_DecisionLevelAtt", {}),
    "LeeNet11": ("LeeNet11", {}),
    "LeeNet24": ("LeeNet24", {}),
    "DaiNet19": ("DaiNet19", {}),
    "Res1dNet31": ("Res1dNet31", {}),
    "Res1dNet51": ("Res1dNet51", {}),
    "Wavegram_Cnn14": ("Wavegram_Cnn14", {}),
    "Wavegram_Logmel_Cnn14": ("Wavegram_Logmel_Cnn14", {}),
    "Wavegram_Logmel128_Cnn14": ("Wavegram_Logmel128_Cnn14", {}),
}
#: Models without a log-mel front end (their constructors take only the sample rate).
WAVEFORM = {"LeeNet11", "LeeNet24", "DaiNet19", "Res1dNet31", "Res1dNet51", "Wavegram_Cnn14"}


def build(name, spec):
    from keras_panns.models import get_architecture

    arch, kwargs = CNN_CASES[name]
    keys = ("sample_rate",) if name in WAVEFORM else LOGMEL_KEYS
    config = {k: spec["config"][k] for k in keys}
    config["num_classes"] = spec["config"]["classes_num"]
    config.update(kwargs)
    return get_architecture(arch)(**config)
