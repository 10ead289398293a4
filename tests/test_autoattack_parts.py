"""A long AutoAttack measurement in parts: each part kept on disk, a stopped run resumes, the joined record."""

import shutil

import numpy as np
import pytest

from advdemo.core.autoattack_eval import AutoAttackOutcomes
from advdemo.core.config import AutoAttackEval, Norm, StrongEval
from advdemo.experiments.autoattack_parts import measure_in_parts, part_paths

HOW = (AutoAttackEval(), StrongEval())


class Stop(RuntimeError):
    pass


def _fake(with_square: bool, calls: list[tuple[int, int]], stop_at: int | None = None):
    """A measurement whose outcome per digit is known: digit i is correct under attack k iff (i + k) % 3."""

    def measure(start: int, end: int):
        if start == stop_at:
            raise Stop
        calls.append((start, end))
        i = np.arange(start, end)
        columns = [(i + k) % 3 > 0 for k in range(7)]
        if not with_square:
            columns[-1] = None
        return AutoAttackOutcomes(*columns), {"apgd_ce": 1.5, "square": 2.0}

    return measure


@pytest.mark.parametrize("norm", [Norm.INFINITY, Norm.L2])
def test_a_stopped_measurement_keeps_its_finished_parts_and_measures_only_the_rest(tmp_path, norm):
    parts = part_paths(tmp_path, "adv-x", norm, 0.3, 7, HOW, part=3)
    assert [(start, end) for start, end, _ in parts] == [(0, 3), (3, 6), (6, 7)]
    with_square = norm is Norm.INFINITY
    calls: list[tuple[int, int]] = []
    with pytest.raises(Stop):
        measure_in_parts(parts, with_square, _fake(with_square, calls, stop_at=6))
    assert calls == [(0, 3), (3, 6)] and [path.exists() for _, _, path in parts] == [True, True, False]

    calls.clear()
    lines: list[str] = []
    outcomes, seconds = measure_in_parts(parts, with_square, _fake(with_square, calls), log=lines.append)
    assert calls == [(6, 7)]  # only the missing part
    assert sum("read back" in line for line in lines) == 2 and "digits 6-7 of 7 measured" in lines
    whole = _fake(with_square, [])(0, 7)[0]
    for name in ("clean", "transfer_fgsm", "whitebox_fgsm", "whitebox_pgd", "apgd_ce", "apgd_t"):
        np.testing.assert_array_equal(getattr(outcomes, name), getattr(whole, name))
    if with_square:
        np.testing.assert_array_equal(outcomes.square, whole.square)
    else:
        assert outcomes.square is None
    assert seconds == {"apgd_ce": 4.5, "square": 6.0}  # three parts' seconds, summed


def test_a_part_that_does_not_read_back_is_measured_again_and_settings_name_the_files(tmp_path):
    parts = part_paths(tmp_path, "adv-x", Norm.INFINITY, 0.3, 6, HOW, part=3)
    calls: list[tuple[int, int]] = []
    measure_in_parts(parts, True, _fake(True, calls))
    parts[0][2].write_bytes(b"not an archive")
    calls.clear()
    measure_in_parts(parts, True, _fake(True, calls))
    assert calls == [(0, 3)]
    # Four digits' outcomes under a three-digit part's name: the wrong length, measured again.
    longer = part_paths(tmp_path / "other", "adv-x", Norm.INFINITY, 0.3, 8, HOW, part=4)
    measure_in_parts(longer, True, _fake(True, []))
    shutil.copy(longer[0][2], parts[1][2])
    calls.clear()
    measure_in_parts(parts, True, _fake(True, calls))
    assert calls == [(3, 6)]
    # Other settings, other files: nothing is read across them.
    other = part_paths(tmp_path, "adv-x", Norm.INFINITY, 0.3, 6, (AutoAttackEval(square_queries=10), StrongEval()),
                       part=3)
    assert {path for *_, path in other}.isdisjoint(path for *_, path in parts)
    retrained = part_paths(tmp_path, "adv-x", Norm.INFINITY, 0.3, 6, HOW, part=3, source="other weights")
    assert {path for *_, path in retrained}.isdisjoint(path for *_, path in parts)


def test_the_whole_run_stores_one_record_and_leaves_no_part_behind(tmp_path, random_digits_store):
    from advdemo.experiments.autoattack_runs import run_autoattack
    from advdemo.store.manifest import AutoAttackKind

    store, mnist, base, adv = random_digits_store
    cfg, strong = AutoAttackEval(apgd_iterations=5, targets=1, square_queries=20), StrongEval(iterations=5, restarts=1)
    folder = tmp_path / "parts"

    def stop_after_the_first_part(line: str) -> None:
        if "digits 0-5 of 12 measured" in line:
            raise Stop

    run = lambda log: run_autoattack(store, mnist, base, [(adv, 0.1)], examples=12,  # noqa: E731
                                     kind=AutoAttackKind.FULL, cfg=cfg, strong=strong, parts=folder, part=5, log=log)
    with pytest.raises(Stop):
        run(stop_after_the_first_part)
    assert len(list(folder.glob("*.npz"))) == 1 and store.entry(adv).metrics.autoattack(
        Norm.INFINITY, 0.1, AutoAttackKind.FULL) is None
    lines: list[str] = []
    assert run(lines.append) == 1
    assert sum("read back" in line for line in lines) == 1 and sum("measured" in line for line in lines) == 2
    record = store.entry(adv).metrics.autoattack(Norm.INFINITY, 0.1, AutoAttackKind.FULL)
    assert record.examples == 12 and (record.config, record.strong) == (cfg, strong)
    rates = record.accuracies.rates()
    assert all(rate.n == 12 for rate in rates.values())
    assert record.accuracies.worst_case.value <= min(rate.value for rate in rates.values())
    assert list(folder.glob("*")) == []  # stored: its parts are gone
