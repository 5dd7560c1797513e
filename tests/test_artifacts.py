"""The stage store: done markers, row-level resume, and one computation under contention."""

import json
import multiprocessing as mp
import time
from pathlib import Path

from srlm.artifacts import RowLog, Stage, read_jsonl, resumable_map, write_jsonl


def test_stage_done_and_skip(tmp_path):
    with Stage(tmp_path, "s", "k1", {"x": 1}) as st:
        assert not st.done
        write_jsonl(st.path("out.jsonl"), [{"id": "1"}])
        st.finish({"m": 1.0})
    with Stage(tmp_path, "s", "k1", {"x": 1}) as st2:
        assert st2.done and st2.info["metrics"] == {"m": 1.0}
    with Stage(tmp_path, "s", "k2", {"x": 2}) as st3:
        assert not st3.done


def test_rowlog_drops_torn_line_and_resumes(tmp_path):
    path = tmp_path / "rows.jsonl.partial"
    log = RowLog(path)
    log.extend([{"id": "a", "v": 1}, {"id": "b", "v": 2}])
    with path.open("a") as f:
        f.write('{"id": "c", "v"')  # killed mid-write
    log2 = RowLog(path)
    assert set(log2.rows) == {"a", "b"}
    calls = []

    def fn(batch):
        calls.append([it["id"] for it in batch])
        return [{"id": it["id"], "v": 0} for it in batch]

    rows = resumable_map([{"id": i} for i in "abcd"], fn, log2, chunk_size=1)
    assert calls == [["c"], ["d"]]
    assert [r["id"] for r in rows] == list("abcd")
    assert [r["id"] for r in read_jsonl(path)] == list("abcd")


def _worker(store: str, counter: str) -> None:
    with Stage(Path(store), "shared", "k1", {"k": 1}) as st:
        if not st.done:
            with open(counter, "a") as f:
                f.write("x")
            time.sleep(0.5)  # long enough for the other job to arrive and wait
            st.finish()


def test_two_jobs_same_stage_compute_once(tmp_path):
    counter = tmp_path / "count.txt"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), str(counter))) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    assert counter.read_text() == "x"
    done = json.loads((tmp_path / "shared" / "k1" / "_done.json").read_text())
    assert done["stage"] == "shared"
