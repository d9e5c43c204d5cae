"""Properties that hold for any valid primary config, checked with generated inputs."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.machine import Lifecycle

CA = "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
# Keys the renderer interprets are left out of the free-form part, and so is
# "delegates", which would make the document a Multus config.
free_keys = st.text(max_size=12).filter(
    lambda key: key not in {"cniVersion", "name", "type", "plugins", "capabilities", "delegates", "clusterNetwork"}
)
capabilities = st.dictionaries(st.sampled_from(["portMappings", "bandwidth", "ips", "mac"]), st.booleans(), max_size=4)
single = st.fixed_dictionaries(
    {
        "cniVersion": st.sampled_from(["0.3.1", "0.4.0", "1.0.0", "1.1.0"]),
        "name": st.text(max_size=20),
        "type": st.text(min_size=1, max_size=10).filter(lambda text: text not in {"multus", "multus-shim"}),
    },
    optional={"capabilities": capabilities},
).flatmap(lambda base: st.dictionaries(free_keys, values, max_size=5).map(lambda extra: {**extra, **base}))


def contains_multus_type(value: object) -> bool:
    if isinstance(value, dict):
        return value.get("type") in ("multus", "multus-shim") or any(contains_multus_type(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_multus_type(item) for item in value)
    return False


def same_json(left: object, right: object) -> bool:
    """Compare JSON values, telling booleans from numbers and comparing floats by value."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return math.isclose(left, right, rel_tol=0, abs_tol=0) or left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same_json(a, b) for a, b in zip(left, right, strict=True))
    return left == right


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(master=single)
def test_any_master_wrapped_intact(master, hooks, parse):
    if contains_multus_type(master):
        return
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        conf = root / "net.d"
        account = root / "sa"
        conf.mkdir()
        account.mkdir()
        (account / "token").write_text("token")
        (account / "ca.crt").write_text(CA)
        (conf / "10-generated.conf").write_text(json.dumps(master))
        settings_ = parse(
            f"--cni-conf-dir={conf}", f"--multus-autoconfig-dir={conf}",
            f"--service-account-dir={account}", "--skip-multus-binary-copy",
        )
        lifecycle = Lifecycle(hooks, settings_)

        lifecycle.render()
        assert lifecycle.state == "steady"
        output = next(conf.glob("00-multus.conf*"))
        document = json.loads(output.read_bytes())
        plugin = document["plugins"][0] if "plugins" in document else document
        assert same_json(plugin["delegates"][0], master)
        assert document["cniVersion"] == master["cniVersion"]

        before = output.stat()
        lifecycle.render()
        after = output.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
