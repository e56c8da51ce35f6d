"""Build every package's wheel and install reid-zoo extras into fresh virtual environments.

The fresh venv sees the third-party dependencies (torch, timm, ...) of the running environment
through a filtered view of its site-packages, so nothing heavy is reinstalled; our own
distributions are left out of that view, so they can only come from the wheels just built.
"""

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from ..http_server import closed_port_url

REPO = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p for p in (REPO / "packages").iterdir() if (p / "pyproject.toml").is_file())

#: extra -> the reid-* distributions it must bring, besides reid-zoo and reid-core
EXTRAS = {
    "bot": {"reid-bot"},
    "fastreid": {"reid-fastreid"},
    "transreid": {"reid-transreid"},
    "torchreid": {"reid-torchreid"},
    "agw": {"reid-agw"},
    "apnet": {"reid-apnet"},
    "abd": {"reid-abd"},
    "transreid-ssl": {"reid-transreid-ssl"},
    "pass": {"reid-pass"},
    "clipreid": {"reid-clipreid"},
    "all": {"reid-bot", "reid-fastreid", "reid-transreid", "reid-torchreid", "reid-agw", "reid-apnet", "reid-abd",
            "reid-transreid-ssl", "reid-pass",
            "reid-clipreid"},
}

pytestmark = pytest.mark.slow


def _ours(name: str) -> bool:
    low = name.lower()
    return low.startswith(("reid_", "reid-", "__editable__", "_reid")) or low.endswith(".pth")


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheels")
    for pkg in PACKAGES:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(pkg)],
            check=True,
        )
    return out


@pytest.fixture(scope="module")
def deps_view(tmp_path_factory):
    """A folder of links to the current site-packages, without reid-zoo's own distributions."""
    view = tmp_path_factory.mktemp("deps")
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if not _ours(entry.name):
            (view / entry.name).symlink_to(entry)
    return view


def test_wheels_carry_catalogs_and_entry_points(wheelhouse):
    import zipfile

    names = {p.name.split("-")[0]: p for p in wheelhouse.glob("*.whl")}
    assert set(names) == {p.name.replace("-", "_") for p in PACKAGES}
    with zipfile.ZipFile(names["reid_bot"]) as z:
        files = z.namelist()
        assert "reid_bot/catalog.yaml" in files
        ep = next(f for f in files if f.endswith("entry_points.txt"))
        assert "[reid_zoo.families]" in z.read(ep).decode()
    for wheel in names.values():  # sibling requirements are plain names, never file:// paths
        with zipfile.ZipFile(wheel) as z:
            meta = z.read(next(f for f in z.namelist() if f.endswith("METADATA"))).decode()
            assert "file://" not in meta and "@ file" not in meta


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_install_extra_into_fresh_venv(extra, wheelhouse, deps_view, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "_deps_view.pth").write_text(str(deps_view) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    # The venv's bundled setuptools is older than what torch declares; the view has a recent one.
    subprocess.run([str(py), "-m", "pip", "uninstall", "-q", "-y", "setuptools"], check=True, env=env)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheelhouse),
                    f"reid-zoo[{extra}]"], check=True, env=env)
    probe = """
import json, importlib.metadata as md, reid_core
ours = sorted({d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].startswith("reid")})
families = sorted(reid_core.list_families())
try:
    reid_core.load("vit_transreid", "msmt17")
    message = ""
except Exception as e:
    message = f"{type(e).__name__}: {e}"
print(json.dumps({"ours": ours, "families": families, "message": message, "file": reid_core.__file__,
                  "models": reid_core.list_models()}))
"""
    # No network: downloads go to a loopback port nobody listens on.
    env.update(REID_HOME=str(tmp_path / "home"), REID_MIRROR=closed_port_url("/mirror").rsplit("/", 1)[0])
    out = subprocess.run([str(py), "-c", probe], check=True, capture_output=True, text=True, env=env, cwd=tmp_path)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ours"] == sorted({"reid-zoo", "reid-core"} | EXTRAS[extra])
    assert result["file"].startswith(site), "reid_core must come from the wheel, not the checkout"
    families = sorted(d.split("-", 1)[1] for d in EXTRAS[extra])
    assert result["families"] == families
    assert result["models"], "the family registers no model"
    if "reid-transreid" not in EXTRAS[extra]:
        assert 'pip install "reid-zoo[transreid]"' in result["message"]
    else:  # installed: the request gets as far as the (unreachable) download
        assert "msmt17-vit_transreid" in result["message"]
