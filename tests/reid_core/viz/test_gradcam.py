import numpy as np
import pytest
import torch
from PIL import Image

import reid_core
from reid_core.viz import cam_target, render_gradcam, similarity_cams
from reid_core.viz.figure import display_image


def test_gradcam_files_sizes_and_content(osnet, synthetic10, tmp_path):
    paths = render_gradcam(osnet, synthetic10, tmp_path, queries=2, topk=3, dpi=40)
    assert [p.name for p in paths] == ["gradcam_000.png", "gradcam_001.png"]
    for p in paths:  # three rows of 1.5 x 3 inch cells, topk + 1 columns
        assert Image.open(p).size == (round(1.5 * 4 * 40), round(9 * 40))
    a, b = (np.asarray(Image.open(p).convert("RGB")) for p in paths)
    assert not np.array_equal(a, b)


def test_cams_follow_the_reference(osnet, synthetic10):
    g = synthetic10.gallery
    images = torch.stack([display_image(g[0].path, (128, 64)), display_image(g[0].path, (128, 64))])
    with torch.no_grad():
        refs = osnet(torch.stack([display_image(g[5].path, (128, 64)), display_image(g[40].path, (128, 64))]))
    cams = similarity_cams(osnet, images, refs)
    assert cams.shape == (2, 128, 64) and cams.dtype == np.float32
    assert cams.min() >= 0 and cams.max() <= 1 and cams.max() > 0
    # same image, different reference: a different explanation
    assert np.abs(cams[0] - cams[1]).max() > 1e-3
    # the model is left as it was found
    assert not osnet.training and all(p.grad is None for p in osnet.parameters())


def test_frozen_model_still_explained(osnet, synthetic10):
    image = display_image(synthetic10.gallery[0].path, (128, 64))[None]
    osnet.requires_grad_(False)
    try:
        with torch.no_grad():
            ref = osnet(display_image(synthetic10.gallery[7].path, (128, 64))[None])
        cams = similarity_cams(osnet, image, ref)
        assert cams.max() > 0
        assert not any(p.requires_grad for p in osnet.parameters())
    finally:
        osnet.requires_grad_(True)


def test_vit_uses_its_reshape_transform_and_camids():
    if "transreid" not in {f.extra for f in reid_core.list_families().values()}:
        pytest.skip("reid-transreid is not installed")
    torch.manual_seed(0)
    model = reid_core.create_model("vit_transreid", num_classes=5, depth=2).eval()
    layers, reshape = cam_target(model)
    assert reshape is not None and layers[0] is model.get_submodule(model.meta.cam_layer)
    images = torch.rand(2, 3, *model.input_size)
    with torch.no_grad():
        refs = model(images.flip(0), camids=torch.tensor([1, 2]))
    cams = similarity_cams(model, images, refs, camids=[0, 3])
    assert cams.shape == (2, *model.input_size) and np.isfinite(cams).all() and cams.max() > 0
    other = similarity_cams(model, images, refs, camids=[5, 5])
    assert np.abs(cams - other).max() > 1e-4  # the camera embedding is part of what is explained


def test_unknown_layer_is_a_clear_error(osnet):
    with pytest.raises(ValueError, match="no module 'nope'"):
        cam_target(osnet, "nope")
