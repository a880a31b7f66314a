"""The zoo cards, and presets resolved from an installed wheel."""

import pathlib
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from keras_panns.hub import zoo

REPO = pathlib.Path(__file__).resolve().parents[1]
ZENODO_FILES = {  # every checkpoint of Zenodo record 3987831 (panns_reference.md, section 4.2)
    "Cnn6_mAP=0.343.pth",
    "Cnn10_mAP=0.380.pth",
    "Cnn14_mAP=0.431.pth",
    "Cnn14_16k_mAP=0.438.pth",
    "Cnn14_8k_mAP=0.416.pth",
    "Cnn14_emb512_mAP=0.420.pth",
    "CNN14_emb128_mAP=0.412.pth",
    "Cnn14_emb32_mAP=0.364.pth",
    "Cnn14_DecisionLevelMax_mAP=0.385.pth",
    "Cnn14_DecisionLevelAtt_mAP=0.425.pth",
    "ResNet22_mAP=0.430.pth",
    "ResNet38_mAP=0.434.pth",
    "ResNet54_mAP=0.429.pth",
    "MobileNetV1_mAP=0.389.pth",
    "MobileNetV2_mAP=0.383.pth",
    "LeeNet11_mAP=0.266.pth",
    "LeeNet24_mAP=0.336.pth",
    "DaiNet19_mAP=0.295.pth",
    "Res1dNet31_mAP=0.365.pth",
    "Res1dNet51_mAP=0.355.pth",
    "Wavegram_Cnn14_mAP=0.389.pth",
    "Wavegram_Logmel_Cnn14_mAP=0.439.pth",
}


def test_a_card_for_every_published_checkpoint():
    cards = [zoo.get_card(n) for n in zoo.list_models()]
    assert {c.file_name for c in cards} == ZENODO_FILES
    for card in cards:
        assert card.checkpoint["md5"] is None or re.fullmatch(r"[0-9a-f]{32}", card.checkpoint["md5"])
        assert "3987831" in card.checkpoint["url"] and card.license["weights"] == "CC-BY-4.0"
        mAP = float(re.search(r"mAP=(0\.\d+)", card.file_name).group(1))
        assert card.metrics["mAP"] == mAP, card.name
        assert card.config["num_classes"] == 527 and card.config.get("fmax", 0) <= card.sample_rate / 2


def test_one_default_per_architecture_and_lookup_by_file_name():
    defaults = [zoo.get_card(n) for n in zoo.list_models() if zoo.get_card(n).default]
    assert len({c.architecture for c in defaults}) == len(defaults)
    assert zoo.card_for_file("/tmp/Cnn14_16k_mAP%3D0.438.pth").name == "cnn14_16k"
    assert zoo.card_for_file("Cnn14_emb128_mAP=0.412.pth").name == "cnn14_emb128"
    assert zoo.default_card("Cnn14").name == "cnn14"


def test_published_hashes_match_the_reference_notes():
    assert zoo.get_card("cnn14").checkpoint["md5"] == "541141fa2ee191a88f24a3219fff024e"
    assert zoo.get_card("cnn14_16k").checkpoint["size_bytes"] == 358668570


# Parameters the reference defines but never uses, which a functional Keras graph cannot hold.
UNUSED_PARAMS = {
    "Cnn14_DecisionLevelAtt": 2 * 527,  # att_block.bn_att weight and bias
    "DaiNet19": 64 * 64 + 2 * 64,  # conv_block1.downsample and bn_downsample
    "Wavegram_Cnn14": 2 * 64 + 9 * 64 + 9 * 64 * 64 + 4 * 64,
}  # bn0 and conv_block1


def test_built_cards_construct_with_their_config():
    import keras_panns

    for name in zoo.list_models():
        card = zoo.get_card(name)
        if card.architecture in keras_panns.ARCHITECTURES:
            model = keras_panns.get_architecture(card.architecture)(**card.config)
            trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
            assert trainable == card.params - UNUSED_PARAMS.get(card.architecture, 0), name


@pytest.mark.slow
def test_installed_wheel_resolves_presets(tmp_path):
    pytest.importorskip("hatchling")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(tmp_path.glob("keras_panns-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "keras_panns/_zoo/cnn14.json" in names and "keras_panns/assets/audioset_labels.csv" in names
        assert "keras_panns/audio.py" in names and not [n for n in names if n.endswith("_test.py")]
        assert {"keras_panns/assets/audioset_ontology.json", "keras_panns/assets/AUDIOSET_ONTOLOGY_NOTICE.md"} <= set(
            names
        )
        from keras_panns.demo.build import WEB_FILES  # the demo page's files, which build_demo copies

        assert {f"keras_panns/demo/web/{name}" for name in WEB_FILES} <= set(names)
        z.extractall(tmp_path / "site")
    # Outside the repository, only the wheel's copy of the cards can answer.
    script = (
        "import keras_panns.hub.zoo as z, keras_panns.labels as l; assert l.group_indices('Vehicle'); "
        "print(z.get_card('cnn14_16k').sample_rate, len(z.list_models()), len(l.audioset_labels()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["16000", str(len(list((REPO / "zoo").glob("*.json")))), "527"]


def test_before_the_models_are_imported_the_error_says_how_to_register_them():
    code = (
        "from keras_panns.hub import zoo\n"
        "try:\n    zoo.get_card('cnn14').get_model()\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert out.startswith("UnknownModelError") and "import keras_panns.models" in out
