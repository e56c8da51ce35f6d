"""resnet50_abd and densenet121_abd: train step with the orthogonality terms, eval output, metadata, catalog, size."""

import pytest
import torch
import torch.nn.functional as F

import reid_core
from reid_abd import of_penalty, ow_penalty
from reid_core.profile import count_macs, count_params, human

NAMES = ["resnet50_abd", "densenet121_abd"]
TRAINING_SETS = {"market1501": 751, "dukemtmcreid": 702, "msmt17": 1041}
OF_POSITIONS = {"intermediate", "before", "cam", "pam", "after"}


def small_batch(seed: int = 0, size: tuple[int, int] = (64, 32)) -> torch.Tensor:
    # 64x32: both trunks end with a 4x2 map, which the ABD branch cuts into two 2x2 stripes;
    # 32x16 (a 2x1 map, two 1x1 stripes) is the smallest input the branch accepts.
    return torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", params=NAMES)
def model(request):
    torch.manual_seed(0)
    return reid_core.create_model(request.param, num_classes=7)


def _grad_norm(module: torch.nn.Module) -> float:
    return sum(p.grad.abs().sum().item() for p in module.parameters() if p.grad is not None)


def test_train_step_with_orthogonality_terms(model):
    model.train()
    model.zero_grad()
    gen = torch.Generator().manual_seed(0)
    out = model(small_batch(size=(32, 16)))
    assert len(out["logits"]) == 3 and all(l.shape == (2, 7) for l in out["logits"])
    assert len(out["features"]) == 3 and all(f.shape == (2, 1024) for f in out["features"])
    assert set(out["fmaps"]) == OF_POSITIONS
    assert len(out["fmaps"]["intermediate"]) == 1
    assert all(len(out["fmaps"][k]) == 2 for k in ("before", "cam", "pam", "after"))  # one per stripe

    pids = torch.tensor([2, 4])
    xent = sum(F.cross_entropy(logits, pids) for logits in out["logits"])
    of = of_penalty(out["fmaps"], beta=1e-6, generator=gen)
    ow = ow_penalty(model, beta=1e-3, generator=gen)
    for term in (xent, of, ow):
        assert term.dim() == 0 and torch.isfinite(term)
    assert xent > 0 and ow > 0 and of != 0  # OW sums squares; OF's one-step estimates may have either sign

    # Each regularizer sends gradient where it should (autograd.grad on a few tensors: cheap).
    abd, global_head = model.branches[1][1], model.branches[0][1]
    stem = model.common_branch.backbone1[0]

    def grads(term, params):
        return torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)

    of_grads = grads(of, [abd.cam_module.attention_module.gamma, abd.pam_module.attention_module.gamma,
                          abd.before_module.conv7[1].weight, global_head.fc[0].weight])
    assert all(g is not None and g.abs().sum() > 0 for g in of_grads[:3])
    assert of_grads[3] is None  # the global head has no map under OF
    shallow = of_penalty({"intermediate": out["fmaps"]["intermediate"]}, generator=gen)
    (g_shallow,) = grads(shallow, [model.common_branch.shallow_cam._cam_module.gamma])
    assert g_shallow.abs() > 0
    ow_grads = grads(ow, [stem.weight, abd.reduction[0].weight, abd.cam_module.conv5c[0].weight])
    assert ow_grads[0].abs().sum() > 0
    assert ow_grads[1] is None and ow_grads[2] is None  # OW covers trunk convolutions only

    (xent + of + ow).backward()
    for branch in model.branches:
        assert _grad_norm(branch) > 0
    assert stem.weight.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_ow_scope(model):
    upstream = model.regularized_convs("upstream")
    everything = model.regularized_convs("all")
    trunk_convs = [m for part in (model.common_branch, *(b[0] for b in model.branches))
                   for m in part.modules() if isinstance(m, torch.nn.Conv2d)]
    assert {id(c) for c in everything} == {id(c) for c in trunk_convs}
    if model.name == "resnet50_abd":
        # ABD-Net's own walk never enters a residual block: only the stem conv.
        assert upstream == [model.common_branch.backbone1[0]]
        assert len(everything) == 53 + 10  # ResNet-50's convs, plus the second copy of layer4
    else:
        assert {id(c) for c in upstream} == {id(c) for c in everything}
    with pytest.raises(ValueError, match="scope"):
        model.regularized_convs("heads")


def test_eval_concatenates_global_and_stripe_features(model):
    model.eval()
    captured = []
    hooks = [model.branches[0][1].fc.register_forward_hook(lambda m, a, o: captured.append(o)),
             model.branches[1][1].avgpool.register_forward_hook(lambda m, a, o: captured.append(o.flatten(1)))]
    try:
        with torch.no_grad():
            feats = model(small_batch(1))
    finally:
        for h in hooks:
            h.remove()
    assert feats.shape == (2, model.feature_dim) == (2, 3072)
    torch.testing.assert_close(feats, torch.cat(captured, dim=1), rtol=0, atol=0)
    assert (feats[:, :1024] >= 0).all()  # the global FC ends with a ReLU


def test_stripes_need_an_even_map_height(model):
    model.eval()
    with pytest.raises(ValueError, match="abd_np=2"), torch.no_grad():
        model(torch.rand(1, 3, 48, 16))  # a 3-row map


def test_metadata_and_classifier(model):
    assert model.family == "abd" and model.camera_aware is False
    assert model.input_size == (256, 128)
    assert model.mean == pytest.approx((0.485, 0.456, 0.406))
    assert model.std == pytest.approx((0.229, 0.224, 0.225))
    assert model.get_submodule(model.meta.cam_layer) is model.common_branch.backbone2
    assert model.meta.paper == "https://arxiv.org/abs/1908.01114"
    # A checkpoint trained on 5 identities: same trunk and heads, other classifiers.
    other = {k: (torch.zeros(5, *v.shape[1:]) if "classifier" in k else v) for k, v in model.state_dict().items()}
    report = reid_core.load_weights(model, other, drop_classifier=True)
    assert report.ok
    assert sorted(report.dropped) == [
        "branches.0.1.classifier.bias", "branches.0.1.classifier.weight",
        "branches.1.1.classifiers.0.bias", "branches.1.1.classifiers.0.weight",
        "branches.1.1.classifiers.1.bias", "branches.1.1.classifiers.1.weight",
    ]


def test_catalog_and_published_size(model):
    name = model.name
    info = reid_core.model_info(name)
    assert info.family == "abd" and info.package == "reid-abd"
    assert {d: w.num_classes for d, w in info.weights.items()} == TRAINING_SETS
    for w in info.weights.values():
        assert w.file_name.startswith(f"{w.dataset}-{name}-") and w.file_name.endswith(".pth")
        assert 0 < w.metrics["mAP"] < 1

    assert model.state_dict()[info.classifier_key].shape[0] == 7
    # The published count includes the three classifiers (1024 -> n, with bias) at MSMT17's 1041.
    assert human(count_params(model) + 3 * (1024 * 1041 + 1041)) == info.published["params"]
    # Ours also counts the attention matmuls, theirs the norms and activations: within 5 %.
    published_macs = float(info.published["macs"].rstrip("G")) * 1e9
    assert count_macs(model) == pytest.approx(published_macs, rel=0.05)
