"""What ``pip install`` and an sdist really contain.

Both distributions are built the way a release is (``python -m build``: the sdist first, then the
wheel from the unpacked sdist) from a copy of this checkout. ``--no-isolation`` uses the
setuptools and wheel of the test extra, so nothing is downloaded and a build takes about a second.
"""

import configparser
import email
import pathlib
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

pytest.importorskip("build", reason="building the wheel and sdist needs the 'build' package, "
                                    "part of the test extra: pip install -e '.[test]'")

import chatgpt_providers  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
VERSION = chatgpt_providers.__version__
# What a checkout may hold besides the project: version control, virtualenvs (CI makes its own
# inside the checkout), caches and earlier build output.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv*", "venv", "__pycache__", "*.py[cod]", "*.egg-info",
                                    "build", "dist", ".pytest_cache", ".ruff_cache", ".mypy_cache",
                                    ".hypothesis", ".ipynb_checkpoints", "results.json")


def _files(folder: str, pattern: str = "*"):
    """The project's files under ``folder``, relative to the project root, as posix paths."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob(pattern)
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            and ".ipynb_checkpoints" not in p.parts}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    out = base / "dist"
    result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                             str(source)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"python -m build failed:\n{result.stdout}\n{result.stderr}"
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist, base


@pytest.fixture(scope="module")
def wheel_names(built):
    with zipfile.ZipFile(built[0]) as archive:
        return set(archive.namelist())


@pytest.fixture(scope="module")
def sdist_names(built):
    with tarfile.open(built[1]) as archive:
        names = [member.name for member in archive.getmembers() if member.isfile()]
    prefix = names[0].split("/")[0] + "/"
    assert all(name.startswith(prefix) for name in names)
    return {name[len(prefix):] for name in names}


def test_the_wheel_installs_only_the_package(wheel_names):
    tops = {name.split("/")[0] for name in wheel_names}
    assert tops == {"chatgpt_providers", f"chatgpt_providers-{VERSION}.dist-info"}, tops


def test_the_wheel_has_every_module_of_every_subpackage_and_py_typed(wheel_names):
    """Subpackages added later are picked up too (``find`` with ``chatgpt_providers.*``)."""
    modules = _files("chatgpt_providers", "*.py")
    assert {"chatgpt_providers/core/provider.py", "chatgpt_providers/testing/__init__.py"} <= modules
    assert modules <= wheel_names, sorted(modules - wheel_names)
    assert "chatgpt_providers/py.typed" in wheel_names
    assert not [name for name in wheel_names if name.endswith(".pyc") or "__pycache__" in name]


def test_the_wheel_carries_the_licence_and_metadata(built, wheel_names):
    dist_info = f"chatgpt_providers-{VERSION}.dist-info/"
    licences = [name for name in wheel_names
                if name.startswith(dist_info) and name.rsplit("/", 1)[-1] == "LICENSE"]
    assert licences, sorted(wheel_names)
    with zipfile.ZipFile(built[0]) as archive:
        assert archive.read(licences[0]).decode() == (ROOT / "LICENSE").read_text(encoding="utf-8")
        metadata = email.message_from_bytes(archive.read(dist_info + "METADATA"))
        entry_points = archive.read(dist_info + "entry_points.txt").decode()
    assert "chatgpt-providers = chatgpt_providers.interfaces.cli:main" in entry_points

    from packaging.requirements import Requirement  # a dependency of build

    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = [line.strip() for line in setup["options"]["install_requires"].splitlines()]
    declared = {(r.name, r.specifier) for r in map(Requirement, filter(None, lines))}
    required = {(r.name, r.specifier) for r in map(Requirement, metadata.get_all("Requires-Dist"))
                if r.marker is None}
    assert required == declared
    assert metadata["Requires-Python"] == setup["options"]["python_requires"]
    assert "MIT" in (metadata["License-Expression"], metadata["License"])  # by setuptools' age


def test_the_sdist_is_the_whole_project(sdist_names):
    wanted = ({"LICENSE", "README.md", "setup.cfg", "setup.py", "pyproject.toml", "MANIFEST.in",
               "tests/conftest.py", "examples/quickstart.ipynb", "benchmarks/run.py",
               "chatgpt_providers/py.typed", "ARCHITECTURE.md", "docs/protocols/aipkit.md"}
              | _files("docs") | _files("tests") | _files("examples") | _files("benchmarks", "*.py")
              | _files("chatgpt_providers"))
    assert wanted <= sdist_names, sorted(wanted - sdist_names)
    assert not [name for name in sdist_names if name.endswith(".pyc") or "__pycache__" in name
                or name.startswith((".venv", ".git/")) or name == "benchmarks/results.json"]


def test_the_sdist_test_suite_collects_from_the_sdist_alone(built):
    """Unpacked, the sdist's own tests import its own code and every test module collects."""
    _, sdist, base = built
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        if hasattr(tarfile, "data_filter"):  # Python 3.8.17+: refuse links and absolute paths
            archive.extractall(base / "unpacked", filter="data")
        else:
            archive.extractall(base / "unpacked")
    unpacked = base / "unpacked" / top
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=unpacked, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    collected_files = {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line}
    test_modules = _files("tests", "test_*.py")
    assert test_modules <= collected_files, sorted(test_modules - collected_files)
    where = subprocess.run([sys.executable, "-c", "import chatgpt_providers as p; print(p.__file__)"],
                           cwd=unpacked, capture_output=True, text=True, timeout=60)
    assert unpacked.resolve() in pathlib.Path(where.stdout.strip()).resolve().parents, where
