"""The deployment documents name only settings, commands and options that exist.

``docs/deploying.md`` and ``docs/scaling.md`` (their shell blocks), the zero-to-jupyterhub
values file and the dask-kubernetes cluster manifest are parsed; every nbgrader
configuration trait they set must exist on an nbgrader class, every ``layerlab`` command
line must parse with the kit's own parser, every ``nbgrader`` subcommand and every
``dask scheduler`` / ``dask worker`` option must exist in the installed versions, and the
files they point to must be in the repository.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / "deploying.md", ROOT / "docs" / "scaling.md"]
VALUES = ROOT / "docs" / "helm" / "jupyterhub-values.yaml"
DASK_CLUSTER = ROOT / "docs" / "k8s" / "dask-cluster.yaml"
VENV_BIN = Path(sys.executable).parent


def _shell_lines(md: Path) -> list[str]:
    lines = []
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", md.read_text(encoding="utf-8"), re.S):
        lines += [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return lines


def _all_commands() -> list[str]:
    return [ln for md in DOCS for ln in _shell_lines(md)]


@lru_cache(maxsize=None)
def _nbgrader_traits() -> dict[str, set[str]]:
    import nbgrader.exchange.default as default_exchange
    from nbgrader.apps.nbgraderapp import NbGraderApp
    from traitlets.config import Configurable

    classes = list(NbGraderApp().all_configurable_classes())
    # the exchange nbgrader uses unless configured otherwise (the apps list only its abstract base)
    classes += [c for c in vars(default_exchange).values() if isinstance(c, type) and issubclass(c, Configurable)]
    # the kernel manager nbgrader's executor (nbclient) starts each notebook's kernel with
    from jupyter_client.manager import KernelManager

    classes.append(KernelManager)
    # formgrader, the server extension an instructor's `jupyter lab` in the course folder loads with this config
    from nbgrader.server_extensions.formgrader.formgrader import FormgradeExtension

    classes.append(FormgradeExtension)
    traits: dict[str, set[str]] = {}
    for cls in classes:
        traits.setdefault(cls.__name__, set()).update(cls.class_traits(config=True))
    return traits


def _config_assignments(code: str) -> list[tuple[str, str]]:
    return re.findall(r"^\s*c\.(\w+)\.(\w+)\s*=", code, re.M)


@lru_cache(maxsize=None)
def _dask_options(sub: str) -> set[str]:
    out = subprocess.run([str(VENV_BIN / "dask"), sub, "--help"], capture_output=True, text=True, timeout=120).stdout
    return set(re.findall(r"(--[a-z][a-z-]+)", out))


def _check_dask_args(args: list[str]) -> None:
    assert args[0] == "dask" and args[1] in ("scheduler", "worker"), args
    known = _dask_options(args[1])
    unknown = [a.split("=")[0] for a in args[2:] if a.startswith("--") and a.split("=")[0] not in known]
    assert not unknown, f"dask {args[1]} has no option {unknown}"


# ---------------------------------------------------------------------------------------------- documents


def test_every_document_and_config_file_exists_and_is_linked():
    text = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    for path in (VALUES, DASK_CLUSTER, ROOT / "docs" / "scaling.md", ROOT / "autograder" / "nbgrader_config.py"):
        assert path.is_file(), path
        assert path.relative_to(ROOT).as_posix() in text


def test_layerlab_command_lines_parse_with_the_kits_parser():
    from layerlab.cli import build_parser

    lines = [ln for ln in _all_commands() if ln.startswith("layerlab ")]
    assert any("--scheduler" in ln for ln in lines) and any(ln.startswith("layerlab gradebook copy") for ln in lines)
    for ln in lines:
        argv = shlex.split(ln)[1:]
        try:
            build_parser(argv[0]).parse_args(argv)
        except SystemExit:
            pytest.fail(f"documented command does not parse: {ln}")


def test_nbgrader_subcommands_exist():
    from nbgrader.apps.nbgraderapp import NbGraderApp

    lines = [ln for ln in _all_commands() if ln.startswith("nbgrader ")]
    assert {"autograde", "generate_feedback", "export"} <= {shlex.split(ln)[1] for ln in lines}
    for ln in lines:
        assert shlex.split(ln)[1] in NbGraderApp.subcommands, ln


def test_files_named_by_helm_and_kubectl_lines_exist():
    lines = [ln for ln in _all_commands() if ln.startswith(("helm ", "kubectl "))]
    assert lines
    for ln in lines:
        args = shlex.split(ln)
        for flag, value in zip(args, args[1:]):
            if flag == "-f":
                assert (ROOT / value).is_file(), ln


def test_documented_nbgrader_setting_exists():
    text = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    for cls, trait in re.findall(r"\b([A-Z]\w+)\.(\w+)\b", text):
        if cls in _nbgrader_traits():
            assert trait in _nbgrader_traits()[cls], f"{cls}.{trait} is not an nbgrader setting"


# ---------------------------------------------------------------------------------------------- config files


def test_kit_nbgrader_config_sets_only_real_traits():
    code = (ROOT / "autograder" / "nbgrader_config.py").read_text(encoding="utf-8")
    sets = [(c, t) for c, t in _config_assignments(code) if c not in ("ExecutePreprocessor", "Execute", "GenerateFeedback")]
    assert ("CourseDirectory", "db_url") in sets
    for cls, trait in sets:
        assert trait in _nbgrader_traits().get(cls, set()), f"{cls}.{trait}"


def test_jupyterhub_values_give_every_server_the_exchange_and_only_the_instructor_the_gradebook():
    values = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    single = values["singleuser"]
    code = single["extraFiles"]["nbgrader-config"]["stringData"]
    sets = _config_assignments(code)
    assert sets, "no nbgrader configuration in the values file"
    for cls, trait in sets:
        assert trait in _nbgrader_traits().get(cls, set()), f"{cls}.{trait} is not an nbgrader setting"
    root = re.search(r'c\.Exchange\.root\s*=\s*"([^"]+)"', code).group(1)
    mounts = {m["mountPath"]: m["name"] for m in single["storage"]["extraVolumeMounts"]}
    volumes = {v["name"]: v for v in single["storage"]["extraVolumes"]}
    assert root in mounts and mounts[root] in volumes and single["extraEnv"]["LAYERLAB_EXCHANGE"] == root
    # the gradebook URL (a password) is in the instructor's profile only, from a secret
    assert "LAYERLAB_DB_URL" not in single["extraEnv"]
    profiles = {p["display_name"]: p for p in single["profileList"]}
    instructor = next(p for name, p in profiles.items() if "Instructor" in name)
    env = instructor["kubespawner_override"]["environment"]
    assert env["LAYERLAB_DB_URL"]["valueFrom"]["secretKeyRef"]["key"]
    assert not any("environment" in p.get("kubespawner_override", {}) for n, p in profiles.items() if p is not instructor)
    # the scheduler address is the manifest's scheduler service
    cluster = yaml.safe_load(DASK_CLUSTER.read_text(encoding="utf-8"))
    name = cluster["metadata"]["name"]
    port = next(p["port"] for p in cluster["spec"]["scheduler"]["service"]["ports"] if p["name"] == "tcp-comm")
    assert re.fullmatch(rf"tcp://{name}-scheduler\.\w+\.svc\.cluster\.local:{port}", env["DASK_SCHEDULER_ADDRESS"])


def test_dask_cluster_manifest_runs_real_dask_commands_on_the_course_image():
    cluster = yaml.safe_load(DASK_CLUSTER.read_text(encoding="utf-8"))
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1" and cluster["kind"] == "DaskCluster"
    values = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    image = f"{values['singleuser']['image']['name']}:{values['singleuser']['image']['tag']}"
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    scheduler = cluster["spec"]["scheduler"]["spec"]["containers"][0]
    assert worker["image"] == image == scheduler["image"]  # workers grade with the instructor's kit
    _check_dask_args([str(a) for a in worker["args"]])
    _check_dask_args([str(a) for a in scheduler["args"]])
    for ln in _all_commands():
        if ln.startswith("dask "):
            _check_dask_args(shlex.split(ln))
    # one thread per core the pod may use
    nthreads = int(worker["args"][worker["args"].index("--nthreads") + 1])
    assert nthreads == int(worker["resources"]["limits"]["cpu"])
