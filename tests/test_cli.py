"""The `helix dna` commands as a user runs them, bad input included."""

import json
import subprocess
import sys

import pytest

from helix_lightning.cli import main


@pytest.fixture
def small_file(tmp_path, rng_bytes):
    path = tmp_path / "input.bin"
    path.write_bytes(rng_bytes(3000, seed=5))
    return path


def run(*argv):
    return main(list(argv))


def test_encode_check_decode(tmp_path, small_file, capsys):
    fasta = tmp_path / "a.fasta"
    assert run("dna", "encode", str(small_file), "-o", str(fasta), "--constraints", "fountain",
               "-q", "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["net_density"] < stats["coding_density"] <= 2
    assert run("dna", "check", str(fasta)) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["violations"] == 0 and summary["max_run"] <= 3
    assert summary["constraints"] == "fountain"
    assert summary["coding_density"] == pytest.approx(stats["coding_density"], abs=1e-3)
    out = tmp_path / "out.bin"
    assert run("dna", "decode", str(fasta), "-o", str(out), "-q") == 0
    assert out.read_bytes() == small_file.read_bytes()


def test_duplicated_and_reordered_strands_decode(tmp_path, small_file):
    fasta = tmp_path / "a.fasta"
    run("dna", "encode", str(small_file), "-o", str(fasta), "--constraints", "rl3", "-q")
    lines = fasta.read_text().splitlines()
    recs = [lines[i:i + 2] for i in range(0, len(lines), 2)]
    dup = tmp_path / "dup.fasta"
    dup.write_text("\n".join(sum(reversed(recs + recs[:10]), [])) + "\n")
    out = tmp_path / "out.bin"
    assert run("dna", "decode", str(dup), "-o", str(out), "-q") == 0
    assert out.read_bytes() == small_file.read_bytes()


@pytest.mark.parametrize("content,message", [
    ("", "empty"),
    (">s1\nACGTNNXACGT\n", "non-ACGT"),
    (">s1\n", "empty sequence"),
    ("this is not fasta\n", "FASTA"),
])
def test_bad_fasta_is_one_line_error(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.fasta"
    bad.write_text(content)
    out = tmp_path / "out.bin"
    assert run("dna", "decode", str(bad), "-o", str(out), "-q") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message.lower() in err[0].lower()
    assert not out.exists()


def test_missing_input_and_unknown_set(tmp_path, capsys):
    assert run("dna", "encode", str(tmp_path / "nope.bin"), "-o", str(tmp_path / "x.fa")) == 2
    assert "not found" in capsys.readouterr().err
    f = tmp_path / "f.bin"
    f.write_bytes(b"hello")
    assert run("dna", "encode", str(f), "-o", str(tmp_path / "x.fa"), "--constraints", "zz") == 2
    assert "unknown constraint set" in capsys.readouterr().err
    assert not (tmp_path / "x.fa").exists()


def test_truncated_archive_reports_loss(tmp_path, small_file, capsys):
    fasta = tmp_path / "a.fasta"
    run("dna", "encode", str(small_file), "-o", str(fasta), "--constraints", "rl3", "-q",
        "--redundancy", "0.1")
    lines = fasta.read_text().splitlines()
    cut = tmp_path / "cut.fasta"
    cut.write_text("\n".join(lines[: 2 * (len(lines) // 4)]) + "\n>trunc\nACGTAC")
    out = tmp_path / "out.bin"
    assert run("dna", "decode", str(cut), "-o", str(out), "-q") == 2
    err = capsys.readouterr().err
    assert "lost" in err and "needed" in err
    assert not out.exists()


def test_newer_format_version_is_refused(tmp_path, small_file, capsys, monkeypatch):
    """The version policy: a header version newer than this build reads is refused by name."""
    from helix_lightning.dna import archive

    monkeypatch.setattr(archive, "FORMAT_VERSION", 4)
    fasta = tmp_path / "v4.fasta"
    assert run("dna", "encode", str(small_file), "-o", str(fasta), "--constraints", "rl3",
               "-q") == 0
    assert fasta.read_text().startswith(">helix:v4:rl3:")
    monkeypatch.undo()
    assert run("dna", "decode", str(fasta), "-o", str(tmp_path / "o.bin"), "-q") == 2
    assert ("version 4 is not supported (this build reads versions 1, 2, 3)"
            in capsys.readouterr().err)


def test_flags_without_a_set_mean_the_same_at_encode_and_decode(tmp_path, small_file, capsys):
    """`--max-run 4` alone changes `standard` at encode and at decode alike."""
    fasta = tmp_path / "m.fasta"
    assert run("dna", "encode", str(small_file), "-o", str(fasta), "--max-run", "4", "-q",
               "--json") == 0
    assert json.loads(capsys.readouterr().out)["constraints"] == "custom"
    assert run("dna", "check", str(fasta), "--max-run", "4") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["violations"] == 0 and summary["max_run"] == 4
    out = tmp_path / "o.bin"
    assert run("dna", "decode", str(fasta), "-o", str(out), "-q", "--max-run", "4") == 0
    assert out.read_bytes() == small_file.read_bytes()


def test_help_lists_the_registered_sets(capsys):
    from helix_lightning.dna.constraints import registered_names

    with pytest.raises(SystemExit):
        run("dna", "encode", "--help")
    assert f"named set ({', '.join(registered_names())})" in " ".join(
        capsys.readouterr().out.split())


def test_capacity_command(capsys):
    assert run("dna", "capacity", "--constraints", "rl3", "--length", "40", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["capacity"] == pytest.approx(1.9824, abs=1e-4)
    assert 1.9 < out["strand_capacity"] < 2.0


def test_custom_constraints_from_flags(tmp_path, small_file, capsys):
    fasta = tmp_path / "c.fasta"
    assert run("dna", "encode", str(small_file), "-o", str(fasta), "--max-run", "2",
               "--constraints", "rl3", "--motif", "GAATTC", "-q", "--json") == 0
    capsys.readouterr()
    assert run("dna", "check", str(fasta), "--constraints", "rl3", "--max-run", "2",
               "--motif", "GAATTC") == 0
    assert json.loads(capsys.readouterr().out)["violations"] == 0
    out = tmp_path / "o.bin"
    assert run("dna", "decode", str(fasta), "-o", str(out), "-q", "--constraints", "rl3",
               "--max-run", "2", "--motif", "GAATTC") == 0
    assert out.read_bytes() == small_file.read_bytes()


def test_module_entry_point_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "helix_lightning.dna", "decode",
                           str(tmp_path / "missing.fasta"), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error:")
    proc = subprocess.run([sys.executable, "-m", "helix_lightning", "dna", "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "capacity" in proc.stdout


def _parsers(parser, path=("helix",)):
    """(command path, parser) for the parser and every subcommand under it."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                assert helps.get(name), f"{' '.join(path)} {name}: no help text"
                yield from _parsers(sub, path + (name,))


def test_every_command_and_flag_has_help_and_a_handler():
    import argparse

    from helix_lightning.cli import HANDLERS, build_parser

    seen = set()
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{' '.join(path)} {action.option_strings or action.dest}: no help"
        handler = parser.get_default("handler")
        if handler is not None:
            assert handler in HANDLERS
            seen.add(handler)
    assert seen == set(HANDLERS)


def test_cli_stays_thin():
    import ast
    from pathlib import Path

    import helix_lightning.cli as cli

    source = Path(cli.__file__).read_text()
    assert len(source.splitlines()) < 450
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            assert node.end_lineno - node.lineno + 1 <= 60, node.name


def test_demo_command(tmp_path, capsys):
    out = tmp_path / "demo"
    assert run("demo", "--out", str(out), "--frames", "2", "--bytes", "2000") == 0
    text = capsys.readouterr().out
    assert "video -> DNA -> noisy reads -> video" in text and "bit-exact: yes" in text
    assert "same frames as from the clean strands: yes" in text
    assert (out / "clip.fasta").read_text().startswith(">helix:v1:standard:0000000\n")
    assert (out / "decoded.mkv").stat().st_size > 0
    assert run("demo", "--frames", "0") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:")
