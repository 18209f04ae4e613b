"""Issue 15: self-describing pools (docs/FORMAT.md §11): bootstrap strands obey the archive's
constraint set, carry a sector that names it, and `helix dna decode` reads it."""

from __future__ import annotations

import json
import random

import pytest

from helix_lightning.cli import main as helix
from helix_lightning.dna.archive import encode_archive
from helix_lightning.dna.bootstrap import (BOOT_PREFIX, BOOT_SUFFIX, bootstrap_strands,
                                           chunk_bytes, pair_bases, pair_bits, read_bootstrap)
from helix_lightning.dna.constraints import (ConstraintSet, coded_names, get_constraints,
                                             valid_strands)
from helix_lightning.dna.primers import DEFAULT_PREFIX, DEFAULT_SUFFIX
from helix_lightning.errors import HelixError

DATA = bytes(random.Random(15).getrandbits(8) for _ in range(700))
SPEC = b"# a small spec\n" * 20


def test_pair_code_round_trips_and_limits_runs_and_gc():
    bits = [random.Random(1).getrandbits(1) for _ in range(3 * 400)]
    bases = pair_bases(bits)
    assert pair_bits(bases) == bits and len(bases) == 800
    assert "AAA" not in bases and "TTT" not in bases and "CCC" not in bases
    assert all(sum(c in "CG" for c in bases[i:i + 2]) == 1 for i in range(0, 800, 2))
    with pytest.raises(HelixError):
        pair_bits("AT")


def test_boot_primers_have_the_pair_shape_and_differ_from_the_data_primers():
    for p in (BOOT_PREFIX, BOOT_SUFFIX):
        assert pair_bases(pair_bits(p)) == p
        assert p not in (DEFAULT_PREFIX, DEFAULT_SUFFIX)


@pytest.mark.parametrize("name", coded_names())
def test_bootstrap_strands_obey_every_named_set(name):
    archive = encode_archive(DATA, name)
    boot = bootstrap_strands(archive, spec=SPEC)
    cs = get_constraints(name)
    assert valid_strands(boot, cs).all()
    assert {len(s) for s in boot} == {200}
    sector = read_bootstrap(boot)[archive.header.archive_id]
    assert sector.constraints == cs
    assert sector.fields["prefix"] == DEFAULT_PREFIX and sector.fields["suffix"] == DEFAULT_SUFFIX
    assert int(sector.fields["strand-length"]) == 200
    assert sector.spec() == SPEC


def test_bootstrap_is_refused_for_a_set_the_hand_code_breaks():
    cs = ConstraintSet("nocac", max_run=3, motifs=("CAC",))
    archive = encode_archive(DATA, cs)
    with pytest.raises(HelixError, match="bootstrap strands break constraint set nocac"):
        bootstrap_strands(archive, spec=SPEC)


def test_copies_vote_and_a_damaged_sector_is_left_out():
    archive = encode_archive(DATA, "standard")
    boot = bootstrap_strands(archive, spec=SPEC)
    first = boot[0]
    flipped = first[:30] + ("CA" if first[30:32] != "CA" else "GT") + first[32:]
    assert read_bootstrap([flipped] + boot[1:])  # two good copies outvote one bad one
    assert not read_bootstrap([flipped])          # alone it fails the sector's CRC-32
    assert chunk_bytes(200) == 24


def test_cli_self_describing_pool_decodes_without_flags(tmp_path, capsys):
    src = tmp_path / "in.bin"
    src.write_bytes(DATA)
    flags = ["--constraints", "rl3", "--max-run", "2", "--motif", "GAATTC"]
    pool, plain = tmp_path / "pool.fasta", tmp_path / "plain.fasta"
    assert helix(["dna", "encode", str(src), "-o", str(pool), "-q", "--json",
                  "--self-describing", *flags]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["bootstrap_strands"] > 0
    assert stats["net_density_with_bootstrap"] < stats["net_density"]
    assert helix(["dna", "encode", str(src), "-o", str(plain), "-q", *flags]) == 0
    assert pool.read_text().startswith(plain.read_text())  # the archive itself is unchanged
    out = tmp_path / "out.bin"
    assert helix(["dna", "decode", str(plain), "-o", str(out), "-q"]) == 2  # needs the flags
    assert helix(["dna", "decode", str(pool), "-o", str(out), "-q"]) == 0   # the sector has them
    assert out.read_bytes() == DATA
