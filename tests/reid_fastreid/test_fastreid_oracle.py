"""fast-reid itself confirms the ``*_fastreid`` models and every ``source: fastreid`` record.

For each release config, fast-reid builds its own network with random values and saves it with its
``Checkpointer``; the zoo loads the file strictly and must give the same features (relative L2
error below 1e-4; both run in float64 on the file's float32 values) at the config's input size:

* ``today``: the ``fastreid`` package (1.4.0, today's master), loaded as ``load(name, weights=file)``
  builds it by default (at 128x64, to save time: the network does not depend on the size);
* ``2020-facts``: the same package turned into the network of the code that wrote the release
  files (1ed73fb, 2020-07-30) by the facts listed in
  :func:`tests.reid_fastreid.fastreid_oracle.apply_2020_facts`, loaded through the catalog record
  (``load(name, dataset, source="fastreid", weights=file)``: its build options and input size).

The 2020 code itself cannot be installed here; ``python -m tests.reid_fastreid.fastreid_oracle
--code-2020 DIR`` runs the same comparison against a checkout of it (see docs/families/fastreid.md).
"""

import importlib.util

import pytest
import torch

if importlib.util.find_spec("fastreid") is None:
    pytest.skip(
        "the fast-reid oracle needs the `fastreid` package (1.4.0), which is not installed; "
        "pip install --no-deps fastreid==1.4.0, then termcolor and yacs (what it imports)",
        allow_module_level=True,
    )

from . import fastreid_oracle as oracle

pytestmark = pytest.mark.slow

#: every release config once; the dataset only changes the classifier's rows (the catalog test
#: checks that the three records of a config agree), so they take turns
RELEASES = {}
for _release in oracle.releases():
    RELEASES.setdefault(_release.config, []).append(_release)
CASES = [rs[i % len(rs)] for i, rs in enumerate(RELEASES.values())]
TOLERANCE = 1e-4
SMALL = (128, 64)


@pytest.mark.parametrize("era", ["today", "2020-facts"])
@pytest.mark.parametrize("release", CASES, ids=lambda r: f"{r.config}-{r.dataset}")
def test_zoo_model_reproduces_fastreid(tmp_path, release, era):
    size = SMALL if era == "today" else release.input_size
    ref = oracle.build_reference(release, era, tmp_path, batch=1, size=size)
    model = oracle.load_zoo_model(ref)  # strict: raises on any key left over or missing
    if era == "2020-facts":
        assert model.input_size == release.input_size
    with torch.no_grad():
        ours = model.double()(ref.images)
    error = float((ours.double() - ref.features.double()).norm() / ref.features.double().norm())
    assert error < TOLERANCE, f"{release.config} ({era}): relative error {error:.2e}"


def test_release_file_built_as_today_is_far_off(tmp_path):
    """Why the records carry build options: the 2020 network of bagtricks_R50 with today's stem."""
    release = RELEASES["bagtricks_R50"][0]
    ref = oracle.build_reference(release, "2020-facts", tmp_path, batch=1)
    today = oracle.load_zoo_model(oracle.Reference(release, "today", ref.checkpoint, ref.images, ref.features))
    with torch.no_grad():
        ours = today.double()(ref.images)
    assert float((ours - ref.features).norm() / ref.features.norm()) > 0.1
