"""The simulator hooks into moto internals. These tests fail loudly, naming moto's version,
when moto is outside the supported range or the attachment points have moved."""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import metadata
from typing import Any

import boto3
import pytest

from watcher.sandbox import moto_hook
from watcher.sandbox.moto_hook import SUPPORTED_MOTO, MotoHookError


def test_installed_moto_is_supported() -> None:
    installed = metadata.version("moto")
    try:
        version = moto_hook.check_compatible()
    except MotoHookError as exc:
        pytest.fail(
            f"moto {installed} cannot carry the simulator: {exc}. Pin moto to "
            f">={SUPPORTED_MOTO[0]},<{SUPPORTED_MOTO[1]} or update watcher/sandbox/moto_hook.py."
        )
    assert version == installed


def test_the_hook_really_routes_to_the_simulator(sim: Any, t0: datetime) -> None:
    assert moto_hook.active() is sim
    sim.add_plan("routed", ends_at=t0 + timedelta(days=2))
    sm = boto3.client("sagemaker", region_name="us-east-1")
    plan = sm.describe_training_plan(TrainingPlanName="routed")
    assert plan["TrainingPlanName"] == "routed"
    assert sim.record.calls == {"DescribeTrainingPlan": 1}, (
        f"moto {metadata.version('moto')}: the call did not reach the simulator"
    )
    # Operations the simulator does not own still reach moto itself.
    assert sm.list_models()["Models"] == []
    assert "ListModels" not in sim.record.calls


def test_uninstall_gives_sagemaker_back_to_moto(clock: Any) -> None:
    from watcher.sandbox import sandboxed

    with sandboxed(clock) as sim:
        assert moto_hook.active() is sim
    assert moto_hook.active() is None
    from moto.sagemaker import urls
    from moto.sagemaker.responses import SageMakerResponse

    assert urls.url_paths["{0}/$"] == SageMakerResponse.dispatch


@pytest.mark.parametrize("fake", ["5.1.9", "5.3.0", "6.0.0", "4.2.14"])
def test_unsupported_moto_version_is_refused(monkeypatch: pytest.MonkeyPatch, fake: str) -> None:
    monkeypatch.setattr(moto_hook.metadata, "version", lambda name: fake)
    with pytest.raises(MotoHookError) as err:
        moto_hook.check_compatible()
    assert f"moto {fake}" in str(err.value)
    assert SUPPORTED_MOTO[0] in str(err.value)


def test_install_refuses_an_unsupported_moto(monkeypatch: pytest.MonkeyPatch, clock: Any) -> None:
    from watcher.sandbox.simulator import Simulator

    monkeypatch.setattr(moto_hook.metadata, "version", lambda name: "5.0.0")
    with pytest.raises(MotoHookError):
        moto_hook.install(Simulator(clock))
    assert moto_hook.active() is None


def test_moved_attachment_point_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.sagemaker import urls

    monkeypatch.setattr(urls, "url_paths", {})
    with pytest.raises(MotoHookError) as err:
        moto_hook.check_compatible()
    assert "sagemaker.urls.url_paths" in str(err.value)
    assert metadata.version("moto") in str(err.value)
