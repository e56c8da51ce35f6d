"""The torchreid catalog: three seed checkpoints per trained model, with their training classes."""

import pytest

import reid_core
from reid_core.errors import WeightsError

TRAINED = ("osnet_x1_0_dpr", "osnet_ibn_x1_0_dpr", "osnet_ain_x1_0_dpr", "mlfn_dpr")
CLASSES = {"market1501": 751, "dukemtmcreid": 702, "msmt17": 1041}


@pytest.mark.parametrize("name", TRAINED)
def test_three_datasets_with_their_identities(name):
    info = reid_core.model_info(name)
    assert {d: w.num_classes for d, w in info.weights.items()} == CLASSES
    for dataset, record in info.weights.items():
        assert record.source == "seed"
        assert record.camera_num == 0
        assert record.file_name.startswith(f"{dataset}-{name}-") and record.file_name.endswith(".pth")
        assert record.url.startswith("https://github.com/HWliiu/pytorch-reid-models/releases/download/")
        assert 0 < record.metrics["mAP"] <= record.metrics["top1"] <= 1
        assert reid_core.weights_record(name, dataset) == record


@pytest.mark.parametrize("name", TRAINED)
def test_catalogued_build_fits_the_classifier(name):
    record = reid_core.weights_record(name, "msmt17")
    model = reid_core.create_model(name, num_classes=record.num_classes, camera_num=record.camera_num)
    assert model.state_dict()["classifier.weight"].shape[0] == 1041


def test_untrained_widths_have_no_weights():
    with pytest.raises(WeightsError, match="osnet_x0_25_dpr has no published weights"):
        reid_core.weights_record("osnet_x0_25_dpr", "market1501")
