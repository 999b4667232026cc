"""Drives berthd with docker-py (the `docker` package from PyPI), as a Python user would.

Usage: DOCKER_HOST=unix:///path/berth.sock python docker_py_check.py BUSYBOX_ARCHIVE

Every check runs even when an earlier one failed; each failure is printed with what was
expected and what came back, and the exit status is the number of failures (capped at 100).
"""

import sys
import time
import traceback

import docker
from docker.errors import ContainerError, NotFound

FAILURES = []


def check(name):
    """Runs the decorated function at once as one named check, recording any failure."""

    def run(function):
        try:
            function()
            print(f"ok   {name}", flush=True)
        except Exception:  # noqa: BLE001 - every failure is reported, none stops the others
            FAILURES.append(name)
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
        return function

    return run


def expect(actual, wanted, what):
    assert actual == wanted, f"{what}: wanted {wanted!r}, got {actual!r}"


def wait_for(predicate, what, seconds=10):
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


client = docker.from_env(version="auto")
api = client.api
archive = sys.argv[1]
started = int(time.time())


@check("ping and version")
def _():
    expect(client.ping(), True, "ping")
    version = client.version()
    assert version["ApiVersion"] >= "1.41", version
    assert version["Os"] == "linux", version


@check("images.load")
def _():
    with open(archive, "rb") as data:
        images = client.images.load(data.read())
    tags = [tag for image in images for tag in image.tags]
    expect(tags, ["busybox:latest"], "loaded tags")


@check("containers.run: output bytes and errors")
def _():
    out = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], remove=True)
    expect(out, b"out\n", "stdout of run")
    out = client.containers.run(
        "busybox", ["sh", "-c", "echo out; echo err >&2"], stdout=False, stderr=True, remove=True
    )
    expect(out, b"err\n", "stderr of run")
    try:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
        raise AssertionError("a failing command raised no ContainerError")
    except ContainerError as error:
        expect(error.exit_status, 3, "exit status in ContainerError")
        expect(error.stderr, b"bad\n", "stderr in ContainerError")
    expect(client.containers.list(all=True), [], "containers left by run(remove=True)")


@check("detach, logs (stdout, stderr, tail), wait")
def _():
    c = client.containers.run(
        "busybox", ["sh", "-c", "echo a; sleep 0.1; echo b >&2; sleep 0.1; echo c; sleep 0.3; exit 7"], detach=True
    )
    expect(c.wait()["StatusCode"], 7, "wait")
    expect(c.logs(stdout=True, stderr=False), b"a\nc\n", "stdout logs")
    expect(c.logs(stdout=False, stderr=True), b"b\n", "stderr logs")
    expect(c.logs(tail=1), b"c\n", "logs tail=1")
    lines = c.logs(timestamps=True).splitlines()
    expect(len(lines), 3, "timestamped lines")
    assert lines[0].endswith(b" a") and lines[0][:4].isdigit(), lines
    c.reload()
    expect(c.status, "exited", "status after exit")
    expect(c.attrs["State"]["ExitCode"], 7, "State.ExitCode")
    c.remove()


@check("streams: run, logs follow, exec, attach, restart")
def _():
    out = client.containers.run(
        "busybox", ["sh", "-c", "echo a; sleep 0.2; echo b"], stream=True, remove=True
    )
    expect(list(out), [b"a\n", b"b\n"], "run(stream=True) chunks")
    c = client.containers.run(
        "busybox", ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done"], detach=True
    )
    expect(b"".join(c.logs(stream=True, follow=True)), b"1\n2\n3\n", "followed logs")
    expect(c.wait(timeout=10)["StatusCode"], 0, "wait(timeout=…)")
    c.restart(timeout=1)
    expect(c.wait()["StatusCode"], 0, "wait after restart")
    expect(c.logs(), b"1\n2\n3\n1\n2\n3\n", "logs of two runs")
    c.remove()
    c = client.containers.run("busybox", ["sh", "-c", "sleep 0.3; echo attached"], detach=True)
    expect(c.attach(stream=False, logs=True), b"attached\n", "attach(stream=False)")
    c.wait()  # as with dockerd, the streams end before the exit is recorded
    c.remove()
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True)
    try:
        result = c.exec_run(["sh", "-c", "echo x; sleep 0.1; echo y"], stream=True)
        expect(b"".join(result.output), b"x\ny\n", "exec_run(stream=True)")
    finally:
        c.remove(force=True)


@check("exec_run: output and exit code")
def _():
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="py-exec")
    try:
        result = c.exec_run(["sh", "-c", "echo hi; sleep 0.1; echo there >&2; exit 3"])
        expect(result.exit_code, 3, "exec exit code")
        expect(result.output, b"hi\nthere\n", "exec output")
        # Exec output is a raw stream (a log, as dockerd's json-file, holds text).
        result = c.exec_run(["printf", "\\000\\377\\001"])
        expect(result.output, b"\x00\xff\x01", "binary exec output")
        result = c.exec_run("cat /etc/hostname", demux=True)
        expect(result.output, (c.id[:12].encode() + b"\n", None), "demuxed exec output")
        result = c.exec_run(["sh", "-c", "echo $X $PWD"], environment={"X": "1"}, workdir="/tmp")
        expect(result.output, b"1 /tmp\n", "exec env and workdir")
    finally:
        c.remove(force=True)


@check("attrs, list with filters, top, stats, rename")
def _():
    c = client.containers.run(
        "busybox",
        ["sleep", "1000"],
        detach=True,
        name="py-web",
        labels={"tier": "web"},
        environment={"GREETING": "hi"},
    )
    done = client.containers.run("busybox", "true", detach=True, name="py-done")
    done.wait()
    try:
        c.reload()  # run(detach=True) returns the container as created
        attrs = c.attrs
        expect(attrs["Name"], "/py-web", "Name")
        expect(attrs["Config"]["Image"], "busybox", "Config.Image")
        assert "GREETING=hi" in attrs["Config"]["Env"], attrs["Config"]["Env"]
        expect(attrs["Config"]["Labels"], {"tier": "web"}, "Config.Labels")
        expect(attrs["State"]["Status"], "running", "State.Status")
        assert attrs["State"]["Pid"] > 0, attrs["State"]
        expect(attrs["HostConfig"]["LogConfig"]["Type"], "json-file", "LogConfig.Type")
        expect(c.image.tags, ["busybox:latest"], "container image")

        expect([x.name for x in client.containers.list()], ["py-web"], "running list")
        expect(
            sorted(x.name for x in client.containers.list(all=True)),
            ["py-done", "py-web"],
            "list(all=True)",
        )
        expect(
            [x.name for x in client.containers.list(all=True, filters={"status": "exited"})],
            ["py-done"],
            "status=exited filter",
        )
        expect(
            [x.name for x in client.containers.list(filters={"label": "tier=web"})],
            ["py-web"],
            "label filter",
        )
        expect(
            [x.name for x in client.containers.list(all=True, filters={"name": "py-do"})],
            ["py-done"],
            "name filter",
        )
        expect(
            [x.id for x in client.containers.list(filters={"id": c.id[:12]})], [c.id], "id filter"
        )

        top = c.top()
        assert "PID" in top["Titles"] and "CMD" in top["Titles"], top
        cmd = top["Titles"].index("CMD")
        expect([p[cmd] for p in top["Processes"]], ["sleep 1000"], "top processes")

        stats = c.stats(stream=False)
        expect(stats["pids_stats"]["current"], 1, "pids_stats.current")
        assert stats["memory_stats"]["usage"] > 0, stats["memory_stats"]
        assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0, stats["cpu_stats"]
        expect(stats["name"], "/py-web", "stats name")

        c.rename("py-renamed")
        c.reload()
        expect(c.name, "py-renamed", "name after rename")
        expect(client.containers.get("py-renamed").id, c.id, "get by new name")
        try:
            client.containers.get("py-web")
            raise AssertionError("the old name still resolves")
        except NotFound:
            pass
    finally:
        c.remove(force=True)
        done.remove()


@check("pause, unpause, stop, kill, remove")
def _():
    c = client.containers.run(
        "busybox", ["sh", "-c", "trap 'exit 143' TERM; while :; do sleep 0.1; done"], detach=True
    )
    c.pause()
    c.reload()
    expect(c.status, "paused", "status after pause")
    expect(c.attrs["State"]["Paused"], True, "State.Paused")
    c.unpause()
    c.reload()
    expect(c.status, "running", "status after unpause")
    begun = time.time()
    c.stop(timeout=5)
    assert time.time() - begun < 3, "stop waited for the timeout though the trap ends it"
    c.reload()
    expect((c.status, c.attrs["State"]["ExitCode"]), ("exited", 143), "after stop")
    c.start()
    c.reload()
    expect(c.status, "running", "status after start")
    c.kill()
    expect(c.wait()["StatusCode"], 137, "exit code after kill")
    c.remove()
    try:
        client.containers.get(c.id)
        raise AssertionError("the removed container is still there")
    except NotFound:
        pass
    stubborn = client.containers.run("busybox", ["sleep", "1000"], detach=True)
    stubborn.kill(signal="SIGTERM")  # pid 1 ignores a signal it has no handler for
    time.sleep(0.3)
    stubborn.reload()
    expect(stubborn.status, "running", "pid 1 after an unhandled SIGTERM")
    stubborn.remove(force=True)


@check("events with until")
def _():
    c = client.containers.run("busybox", "true", detach=True, name="py-events")
    c.wait()
    c.remove()
    until = int(time.time()) + 1
    begun = time.time()
    actions = [
        event["Action"]
        for event in client.events(
            since=started, until=until, decode=True, filters={"container": "py-events"}
        )
    ]
    assert time.time() - begun < 5, "events(until=…) did not end"
    for wanted in ["create", "start", "die", "destroy"]:
        assert wanted in actions, f"{wanted} not in {actions}"
    one = next(
        iter(client.events(since=started, until=until, decode=True, filters={"event": "die"}))
    )
    expect(one["Type"], "container", "event Type")
    expect(one["Actor"]["Attributes"]["exitCode"], "0", "die exitCode")
    assert one["time"] >= started and "timeNano" in one, one


@check("images list, get, tag, remove")
def _():
    image = client.images.get("busybox")
    expect(image.tags, ["busybox:latest"], "tags")
    assert image.id.startswith("sha256:"), image.id
    expect([i.id for i in client.images.list()], [image.id], "images.list")
    expect(image.tag("mybox", "v1"), True, "tag")
    expect(client.images.get("mybox:v1").id, image.id, "tagged image id")
    expect(
        sorted(client.images.get("busybox").tags), ["busybox:latest", "mybox:v1"], "both tags"
    )
    expect([i.id for i in client.images.list(name="mybox")], [image.id], "list by name")
    client.images.remove("mybox:v1")
    try:
        client.images.get("mybox:v1")
        raise AssertionError("the removed tag still resolves")
    except NotFound:
        pass
    expect(client.images.get("busybox").tags, ["busybox:latest"], "tags after untag")


@check("networks create, list, get, remove")
def _():
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.97.0.0/24")])
    made = client.networks.create("py-net", driver="bridge", ipam=ipam, labels={"k": "v"})
    expect(made.name, "py-net", "created network's name")
    got = client.networks.get("py-net")
    expect(got.id, made.id, "networks.get id")
    expect(got.attrs["IPAM"]["Config"][0]["Subnet"], "10.97.0.0/24", "subnet")
    expect(got.attrs["Labels"], {"k": "v"}, "labels")
    names = sorted(n.name for n in client.networks.list())
    expect(names, ["bridge", "host", "none", "py-net"], "networks.list")
    expect([n.id for n in client.networks.list(names=["py-net"])], [made.id], "list by name")
    got.remove()
    try:
        client.networks.get("py-net")
        raise AssertionError("the removed network is still there")
    except NotFound:
        pass


@check("containers.run with network and ports")
def _():
    net = client.networks.create("py-ports", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet="10.98.0.0/24")]))
    serve = "while true; do echo py-hello | nc -l -p 80; done"
    web = client.containers.run("busybox", ["sh", "-c", serve], detach=True, name="py-web",
                                network="py-ports", ports={"80/tcp": 18400})
    try:
        web.reload()
        expect(web.ports, {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18400"}]}, "ports")
        address = web.attrs["NetworkSettings"]["Networks"]["py-ports"]["IPAddress"]
        assert address.startswith("10.98.0."), address
        net.reload()
        expect([c.name for c in net.containers], ["py-web"], "network's containers")
        seen = client.containers.run("busybox", ["nc", "py-web", "80"], network="py-ports",
                                     remove=True)
        expect(seen, b"py-hello\n", "reply by name")
    finally:
        web.remove(force=True)
        net.remove()


@check("volumes create, use, list, prune")
def _():
    vol = client.volumes.create("py-vol", labels={"team": "py"})
    expect(vol.attrs["Labels"], {"team": "py"}, "volume labels")
    client.containers.run("busybox", ["sh", "-c", "echo kept > /v/f"], remove=True,
                          volumes={"py-vol": {"bind": "/v", "mode": "rw"}})
    out = client.containers.run("busybox", ["cat", "/v/f"], remove=True,
                                volumes=["py-vol:/v:ro"])
    expect(out, b"kept\n", "content across containers")
    mount = docker.types.Mount("/m", "py-vol", type="volume", read_only=True)
    holder = client.containers.create("busybox", ["true"], mounts=[mount])
    try:
        expect([(m["Name"], m["RW"]) for m in holder.attrs["Mounts"]], [("py-vol", False)],
               "inspect Mounts")
        listed = [v.name for v in client.volumes.list(filters={"label": "team=py"})]
        expect(listed, ["py-vol"], "volumes.list by label")
        try:
            vol.remove()
            raise AssertionError("a volume in use was removed")
        except docker.errors.APIError as err:
            expect(err.status_code, 409, "removing a volume in use")
    finally:
        holder.remove(v=True)
    vol.remove()
    anonymous = client.volumes.create()
    pruned = client.volumes.prune()
    expect(pruned["VolumesDeleted"], [anonymous.name], "pruned anonymous volumes")


if FAILURES:
    print(f"{len(FAILURES)} failed: {FAILURES}", flush=True)
sys.exit(min(len(FAILURES), 100))
