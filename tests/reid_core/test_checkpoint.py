import pytest
import torch
from safetensors.torch import save_file

import reid_core
from reid_core.errors import CheckpointError

from .conftest import TinyNet


def fresh(num_classes=5):
    torch.manual_seed(1)
    return TinyNet(num_classes)


def assert_same(model, state):
    for k, v in state.items():
        assert torch.equal(model.state_dict()[k], v), k


def test_plain_state_dict_from_file(tmp_path, tiny_state):
    path = tmp_path / "w.pth"
    torch.save(tiny_state, path)
    model = fresh()
    report = reid_core.load_weights(model, path)
    assert report.ok and report.loaded == len(tiny_state) and report.source == str(path)
    assert_same(model, tiny_state)


@pytest.mark.parametrize("wrap", ["module", "model", "state_dict", "state_dict+module"])
def test_wrapped_checkpoints(tmp_path, tiny_state, wrap):
    sd = dict(tiny_state)
    if "module" in wrap:
        sd = {"module." + k: v for k, v in sd.items()}
    if wrap.startswith("model"):
        sd = {"model": sd, "optimizer": {"lr": 0.1}, "iteration": 3}
    if wrap.startswith("state_dict"):
        sd = {"state_dict": sd, "epoch": 7}
    path = tmp_path / "ckpt.pth.tar"
    torch.save(sd, path)
    model = fresh()
    report = reid_core.load_weights(model, path)
    assert report.ok and report.unwrapped
    assert_same(model, tiny_state)


def test_safetensors(tmp_path, tiny_state):
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_state.items()}, str(path))
    model = fresh()
    assert reid_core.load_weights(model, path).ok
    assert_same(model, tiny_state)


def test_strict_error_lists_first_ten_of_each_kind_with_counts(tiny_state):
    sd = dict(tiny_state)
    del sd["conv.weight"]
    sd["classifier.weight"] = torch.zeros(9, 8)
    sd.update({f"extra.{i}": torch.zeros(1) for i in range(12)})
    model = fresh()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as err:
        reid_core.load_weights(model, sd)
    msg = str(err.value)
    assert "missing from the checkpoint (1): conv.weight" in msg
    assert "unexpected in the checkpoint (12)" in msg and "and 2 more" in msg
    assert "classifier.weight checkpoint [9, 8] vs model [5, 8]" in msg
    # strict failure leaves the model untouched
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_non_strict_loads_what_fits_and_reports(tiny_state):
    sd = dict(tiny_state)
    sd["classifier.weight"] = torch.zeros(9, 8)
    model = fresh()
    report = reid_core.load_weights(model, sd, strict=False)
    assert not report.ok and [m[0] for m in report.mismatched] == ["classifier.weight"]
    assert torch.equal(model.conv.weight, tiny_state["conv.weight"])


def test_drop_classifier_and_unused_keys(tiny_state):
    sd = dict(tiny_state)
    sd["classifier.weight"] = torch.zeros(1000, 8)
    sd["pixel_mean"] = torch.zeros(1, 3, 1, 1)
    model = fresh()
    report = reid_core.load_weights(model, sd, drop_classifier=True)
    assert report.ok
    assert sorted(report.dropped) == ["classifier.weight", "pixel_mean"]
    assert torch.equal(model.bottleneck.running_var, tiny_state["bottleneck.running_var"])


def test_unreadable_file_names_it(tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="broken.pth"):
        reid_core.load_weights(fresh(), bad)
    with pytest.raises(CheckpointError, match="not found"):
        reid_core.load_weights(fresh(), tmp_path / "absent.pth")


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    path = tmp_path / "evil.pth"
    torch.save({"model": Evil()}, path)
    with pytest.raises(CheckpointError, match="evil.pth"):
        reid_core.load_weights(fresh(), path)


def test_pickle_refusal_says_what_the_file_holds_not_how_to_bypass(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    path = tmp_path / "evil.pth"
    torch.save({"model": Evil()}, path)
    with pytest.raises(CheckpointError) as err:
        reid_core.read_checkpoint(path)
    msg = str(err.value)
    assert "builtins.print" in msg and "run code" in msg and str(path) in msg
    assert "weights_only=False" not in msg and "add_safe_globals" not in msg


def test_pickle_refusal_of_a_legacy_file_names_the_global(tmp_path):
    path = tmp_path / "old_evil.pth"
    torch.save({"model": print}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError) as err:
        reid_core.read_checkpoint(path)
    assert "print" in str(err.value) and "weights_only=False" not in str(err.value)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.uint8])
def test_safetensors_with_non_float_values_for_float_params_are_refused(tmp_path, tiny_state, dtype):
    sd = {k: v.contiguous() for k, v in tiny_state.items()}
    sd["conv.weight"] = torch.ones_like(sd["conv.weight"]).to(dtype)
    path = tmp_path / "w.safetensors"
    save_file(sd, str(path))
    model = fresh()
    before = model.conv.weight.detach().clone()
    with pytest.raises(CheckpointError, match=r"conv\.weight checkpoint .* vs model float32"):
        reid_core.load_weights(model, path)
    assert torch.equal(model.conv.weight, before)
    report = reid_core.load_weights(model, path, strict=False)  # reported and left out, not cast
    assert [w[0] for w in report.wrong_dtype] == ["conv.weight"] and not report.ok
    assert torch.equal(model.conv.weight, before)


def test_float16_values_are_cast_and_reported(tmp_path, tiny_state):
    sd = {k: v.contiguous() for k, v in tiny_state.items()}
    sd["conv.weight"] = sd["conv.weight"].half()
    path = tmp_path / "half.safetensors"
    save_file(sd, str(path))
    model = fresh()
    report = reid_core.load_weights(model, path)
    assert report.ok and report.cast == [("conv.weight", "float16", "float32")]
    assert "cast (1 tensors, float16 -> float32): conv.weight" in report.describe()
    assert torch.equal(model.conv.weight, sd["conv.weight"].float())


def test_safetensors_are_recognised_by_content_not_name(tmp_path, tiny_state):
    path = tmp_path / "weights.bin"
    save_file({k: v.contiguous() for k, v in tiny_state.items()}, str(path))
    model = fresh()
    assert reid_core.load_weights(model, path).ok
    assert_same(model, tiny_state)


def test_check_loadable_tells_what_a_file_is(tmp_path, tiny_state):
    import gzip

    from reid_core.checkpoint import check_loadable

    good = tmp_path / "good.pth"
    torch.save(tiny_state, good)
    assert check_loadable(good) == "zip"
    legacy = tmp_path / "legacy.pth"
    torch.save(tiny_state, legacy, _use_new_zipfile_serialization=False)
    assert check_loadable(legacy) == "legacy"
    cases = {
        "cut.pth": (good.read_bytes()[:-100], "not a whole zip archive"),
        "cut_legacy.pth": (legacy.read_bytes()[:-100], "cannot read checkpoint"),
        "page.pth": (b"\n<html><title>Quota exceeded</title></html>", "HTML page"),
        "packed.pth": (gzip.compress(good.read_bytes()), "gzip-compressed"),
        "noise.pth": (bytes(range(256)) * 4, "not a checkpoint"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match=message):
            check_loadable(tmp_path / name)
