"""tools/install_detectron2.py: the pins follow what the installed Detectron2's sources use (v0.6
gets its pins, a build of HEAD at most setuptools<81 and never a numpy or Pillow pin), and this
environment holds the pins of the Detectron2 installed in it."""

from importlib.metadata import PackageNotFoundError, version

import pytest
from packaging.requirements import Requirement

from tools import install_detectron2 as installer

V06_PINS = installer.constraint_lines(installer.CONSTRAINTS)


def _fake_detectron2(root, files):
    pkg = root / "detectron2"
    for name, text in {"__init__.py": '__version__ = "0.6"\n', **files}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    return str(pkg)


def test_v06_constraints_file_pins_numpy_and_pillow():
    names = {Requirement(pin).name for pin in V06_PINS}
    assert {"numpy", "Pillow", "setuptools", "opencv-python-headless"} <= names


@pytest.mark.parametrize(
    "source",
    [
        "mask = np.zeros(4, dtype=np.bool)\n",  # structures/masks.py at v0.6
        "hist = np.histogram(classes, bins=np.arange(n + 1), dtype=np.int)\n",
        "x = np.float(3)\n",
        "def __init__(self, src_rect, output_size, interp=Image.LINEAR, fill=0):\n",
    ],
)
def test_sources_using_removed_numpy_or_pillow_apis_get_the_v06_pins(tmp_path, source):
    pkg = _fake_detectron2(tmp_path, {"data/transforms/transform.py": source})
    assert installer.pins_for_detectron2(pkg) == V06_PINS


def test_head_sources_get_only_setuptools_while_they_import_pkg_resources(tmp_path):
    """Names that start like the removed ones (np.bool_, np.float32, np.int64) are not them."""
    modern = "a = np.bool_(1); b = np.float32(2); c = np.int64(3); d = Image.Resampling.BILINEAR\n"
    pkg = _fake_detectron2(
        tmp_path,
        {
            "structures/masks.py": modern,
            "model_zoo/model_zoo.py": '"""Model zoo."""\nimport os\nimport pkg_resources\n',
        },
    )
    assert installer.pins_for_detectron2(pkg) == [installer.SETUPTOOLS_WITH_PKG_RESOURCES]
    (tmp_path / "detectron2" / "model_zoo" / "model_zoo.py").write_text(
        "# pkg_resources is gone here\nfrom importlib import resources\n"
    )
    assert installer.pins_for_detectron2(pkg) == []


def test_this_environment_holds_the_pins_of_its_detectron2():
    pins = installer.pins_for_detectron2(installer.installed_detectron2_dir())
    for pin in pins:
        requirement = Requirement(pin)
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            continue  # a constraint on a package that is not installed holds
        assert requirement.specifier.contains(installed, prereleases=True), (
            f"{requirement.name} {installed} is installed; the installed Detectron2 needs {pin}"
        )


def test_main_keeps_an_installed_detectron2_and_installs_only_its_pins(tmp_path, monkeypatch):
    pkg = _fake_detectron2(tmp_path, {"model_zoo/model_zoo.py": "import pkg_resources\n"})
    calls = []
    monkeypatch.setattr(installer, "installed_detectron2_dir", lambda: pkg)
    monkeypatch.setattr(installer, "pip", lambda *args: calls.append(args))
    out = tmp_path / "env" / "detectron2-constraints.txt"
    monkeypatch.setattr("sys.argv", ["install_detectron2.py", "--constraints-out", str(out)])
    installer.main()
    assert calls == [("install", "setuptools<81")]
    lines = installer.constraint_lines(str(out))
    assert lines == ["setuptools<81"]
    assert pkg in out.read_text()
