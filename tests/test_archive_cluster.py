"""`keras-panns index` end to end: a two-node Ray cluster losing a node, a driver killed with SIGKILL, S3.

Everything listens on 127.0.0.1 only (checked on the sockets of every process
a test starts) and is stopped by its own handle or process id: the cluster by
`Cluster.shutdown()`, a command's process group by its id, the S3 server by
its handle. Never `ray stop`, which would end every Ray on the machine.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

import keras_panns  # noqa: E402
from keras_panns.testing import golden  # noqa: E402


def _loopback(ip):
    import ipaddress

    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback  # "::ffff:127.0.0.1" too


@pytest.fixture(scope="module")
def clips(shared_data):
    files = sorted((shared_data / "esc10" / "audio").glob("*.wav"))[:40]
    if len(files) < 40:
        pytest.skip("ESC-10 clips not found")
    return [str(p) for p in files]


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return str(
        keras_panns.save_preset(
            golden.spread_scores(golden.fixture_model("MobileNetV1")), tmp_path_factory.mktemp("preset") / "mnv1"
        )
    )


def _descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _listening(processes):
    """(pid, address) of every TCP socket the processes listen on."""
    found = []
    for process in processes:
        try:
            found += [
                (process.pid, c.laddr.ip)
                for c in process.net_connections(kind="inet")
                if c.status == psutil.CONN_LISTEN
            ]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def _committed(out):
    folder = os.path.join(out, "files")
    return len([n for n in os.listdir(folder) if n.endswith(".parquet")]) if os.path.isdir(folder) else 0


def _rows(out, table, columns):
    import pandas as pd

    frame = pd.read_parquet(os.path.join(out, table), columns=columns)
    return frame


def _command(args, env=None):
    return [sys.executable, "-m", "keras_panns.cli.main", "index", *args], dict(os.environ, **(env or {}))


def test_a_killed_worker_node_loses_nothing(clips, tmp_path):
    from ray.cluster_utils import Cluster

    tagger = golden.spread_scores(golden.fixture_model("MobileNetV1"))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    try:
        worker = cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
        sockets = _listening(_descendants(os.getpid()))
        assert sockets and all(_loopback(ip) for _, ip in sockets), sockets
        out = str(tmp_path / "index")
        result = {}

        def run():
            try:
                result["summary"] = keras_panns.index_archive(
                    clips,
                    out,
                    tagger,
                    address=cluster.address,
                    runtime="keras",
                    commit_every=2,
                    batch_size=2,
                    segment_windows=1,
                )
            except BaseException as exc:  # handed to the test thread
                result["error"] = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 240
        while _committed(out) == 0 and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert thread.is_alive(), f"the job ended before the node could be killed: {result}"
        cluster.remove_node(worker, allow_graceful=False)
        thread.join(timeout=300)
        assert not thread.is_alive(), "the job did not finish after losing a node"
        assert "error" not in result, result.get("error")
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()
    files = _rows(out, "files", ["path", "status", "windows"])
    assert sorted(files.path) == sorted(clips) and set(files.status) == {"ok"}  # every file exactly once
    windows = _rows(out, "windows", ["path", "window"])
    assert len(windows) == files.windows.sum() == len(windows.drop_duplicates())


def test_a_killed_driver_resumes_to_the_same_tables(clips, preset, tmp_path):
    # 1-s windows every 0.25 s (17 per clip): a job long enough to be killed between its first and last part.
    common = [
        "--checkpoint",
        preset,
        "--runtime",
        "keras",
        "--outputs",
        "tags,scores",
        "--commit_every",
        "2",
        "--batch_size",
        "2",
        "--cpus",
        "2",
        "--window",
        "1",
        "--hop",
        "0.25",
    ]
    # An uninterrupted run, through the command: it starts its own local Ray and stops it at the end.
    whole = str(tmp_path / "whole")
    command, env = _command([*common, "--out", whole, *clips])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "indexed 40 files" in done.stdout

    # The same command killed with SIGKILL once it has committed a part, then run again.
    out = str(tmp_path / "killed")
    command, env = _command([*common, "--out", out, *clips])
    driver = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    started, sockets = [], set()
    try:
        deadline = time.monotonic() + 240
        while _committed(out) == 0 and driver.poll() is None and time.monotonic() < deadline:
            started = list({p.pid: p for p in started + _descendants(driver.pid)}.values())
            sockets.update(_listening(started))
            time.sleep(0.2)
        assert sockets and all(_loopback(ip) for _, ip in sockets), sockets  # Ray's, on loopback only
        assert driver.poll() is None, "the job ended before it could be killed"
        driver.kill()
        driver.wait(timeout=30)
    finally:
        # What the driver started (Ray's processes), by their process group and ids.
        for process in started + _descendants(driver.pid):
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    committed = set(_rows(out, "files", ["path"]).path)
    assert 0 < len(committed) < len(clips)
    command, env = _command([*common, "--out", out, *clips])
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(committed)} already indexed" in resumed.stdout
    for table, columns in (
        ("files", ["path", "size", "mtime", "duration", "windows", "status"]),
        ("windows", ["path", "window", "start", "end"]),
    ):
        got, want = _rows(out, table, columns), _rows(whole, table, columns)
        assert len(got) == len(want) == len(got.drop_duplicates())
        assert set(map(tuple, got.itertuples(index=False))) == set(map(tuple, want.itertuples(index=False)))
    got = _rows(out, "windows", ["path", "window", "scores"]).sort_values(["path", "window"])
    want = _rows(whole, "windows", ["path", "window", "scores"]).sort_values(["path", "window"])
    np.testing.assert_allclose(np.stack(got.scores), np.stack(want.scores), atol=1e-6)


def test_s3_sources_from_a_local_server(clips, preset, tmp_path):
    pytest.importorskip("moto")
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="archive")
        for path in clips[:4]:
            s3.upload_file(path, "archive", f"field/{os.path.basename(path)}")
        s3.put_object(Bucket="archive", Key="field/broken.wav", Body=b"RIFF\x00\x00\x00\x00WAVEjunk")
        s3.put_object(Bucket="archive", Key="field/notes.txt", Body=b"not audio, not listed")
        out = str(tmp_path / "index")
        command, env = _command(
            [
                "--checkpoint",
                preset,
                "--runtime",
                "keras",
                "--outputs",
                "scores",
                "--s3_endpoint",
                endpoint,
                "--cpus",
                "2",
                "--out",
                out,
                "s3://archive/field/",
            ],
            env,
        )
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, done.stderr  # one broken object
        assert "1 of 5 files failed" in done.stderr
        assert "Execution plan" not in done.stderr and "Progress bars disabled" not in done.stderr  # Ray Data quiet
        # The same command again: the bucket listed anew, every object found in the index, no model loaded.
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        assert "5 already indexed" in rerun.stdout and "nothing left to run" in rerun.stdout
    finally:
        server.stop()
    files = _rows(out, "files", ["path", "status"]).set_index("path")
    assert sorted(files.index) == sorted(
        [f"s3://archive/field/{os.path.basename(p)}" for p in clips[:4]] + ["s3://archive/field/broken.wav"]
    )
    errors = _rows(out, "errors", ["path", "reason"])
    assert (
        list(errors.path) == ["s3://archive/field/broken.wav"] and "s3://archive/field/broken.wav" in errors.reason[0]
    )
    model = golden.spread_scores(golden.fixture_model("MobileNetV1"))
    windows = _rows(out, "windows", ["path", "scores"]).set_index("path")
    for path in clips[:4]:
        want = keras_panns.tag_long(model, path).window_scores[0]
        np.testing.assert_allclose(windows.loc[f"s3://archive/field/{os.path.basename(path)}"].scores, want, atol=1e-5)


def test_help_and_usage_errors(clips, preset, tmp_path, capsys):
    from keras_panns.cli.main import main

    assert main(["keras-panns", "index", "--help"]) == 0
    assert "--model_workers" in capsys.readouterr().out
    assert main(["keras-panns", "index", "--out", str(tmp_path / "i")]) == 2  # no sources
    assert main(["keras-panns", "index", clips[0]]) == 2  # no --out
    assert "--out" in capsys.readouterr().err
    assert main(["keras-panns", "index", "--outputs", "colours", "--out", str(tmp_path / "i"), "x.wav"]) == 2
    capsys.readouterr()
    assert (
        main(
            [
                "keras-panns",
                "index",
                "--address",
                "127.0.0.1:9",
                "--checkpoint",
                preset,
                "--runtime",
                "keras",
                "--out",
                str(tmp_path / "i"),
                clips[0],
            ]
        )
        == 1
    )
    assert "no Ray cluster answers at 127.0.0.1:9" in capsys.readouterr().err
