"""`xpuplan rl` (issue 16, second part): an RL step composed of the serving and training estimates, its invariants,
its JSON contract and its bad input."""

import json

import pytest

from xpuplan import api

JOB = dict(model="llama3-8b", chip="h100-sxm", devices=8, rollouts_per_step=256, train_global_batch=64,
           prompt_len=512, response_len=1024, max_seq_len=4096)
APART = dict(JOB, rollout_chip="h100-sxm", rollout_devices=8)
KEYS = {"step_time_s", "generation_s", "inference_passes_s", "training_s", "weight_sync_s", "idle_s",
        "tokens_per_s_per_device", "samples_per_s", "plan", "memory_per_device_bytes"}


def test_a_step_is_never_shorter_than_its_longest_serial_phase():
    for job in (JOB, APART, dict(APART, off_policy_steps=1), dict(JOB, algorithm="ppo")):
        r = api.rl(**job)
        serial = max(r.generation_s + r.weight_sync_s, r.inference_passes_s + r.training_s)
        assert r.step_time_s >= serial * (1 - 1e-12)
        assert all(v >= -1e-9 for v in r.idle_s.values())


def test_on_policy_phases_run_one_after_another_and_off_policy_overlaps_only_separate_pools():
    on, off = api.rl(**APART), api.rl(**dict(APART, off_policy_steps=1))
    total = on.generation_s + on.weight_sync_s + on.inference_passes_s + on.training_s
    assert on.step_time_s == pytest.approx(total)
    assert off.step_time_s == pytest.approx(max(off.generation_s + off.weight_sync_s,
                                                off.inference_passes_s + off.training_s))
    assert off.step_time_s < on.step_time_s
    shared, shared_off = api.rl(**JOB), api.rl(**dict(JOB, off_policy_steps=1))
    assert shared_off.step_time_s == pytest.approx(shared.step_time_s)
    assert any("time-shares" in n for n in shared_off.notes)


def test_disaggregated_pools_cannot_beat_their_devices_working_without_waiting():
    """Each pool's phase alone bounds the step: the rollout pool's generation and the trainer's passes and update."""
    r = api.rl(**dict(APART, off_policy_steps=1))
    alone = api.rl(**dict(JOB, devices=8))
    assert r.step_time_s >= r.generation_s and r.step_time_s >= r.training_s + r.inference_passes_s
    assert r.to_dict()["samples_per_s"] <= 2 * alone.to_dict()["samples_per_s"] * 1.001  # twice the devices at most


def test_ppo_pays_for_its_critic_and_a_longer_tail_for_the_slowest_rollouts():
    grpo, ppo = api.rl(**JOB), api.rl(**dict(JOB, algorithm="ppo"))
    assert ppo.training_s == pytest.approx(2 * grpo.training_s)
    assert ppo.inference_passes_s == pytest.approx(1.5 * grpo.inference_passes_s)
    short, long = api.rl(**dict(JOB, max_seq_len=2048)), api.rl(**dict(JOB, max_seq_len=16384))
    assert long.generation_s > short.generation_s  # the same mean, a longer cap: the slowest responses run longer


def test_rl_json_has_the_designed_keys_and_http_gives_the_clis_answer(run_cli):
    code, out, _ = run_cli("rl", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--rollouts-per-step",
                           "256", "--train-global-batch", "64", "--prompt-len", "512", "--response-len", "1024",
                           "--max-seq-len", "4096", "--json")
    assert code == 0
    data = json.loads(out)
    assert KEYS <= set(data) and set(data["plan"]) == {"train", "rollout"}
    assert data["tokens_per_s_per_device"] == pytest.approx(256 * 1536 / data["step_time_s"] / 8)


def test_bad_rl_input_gets_one_line_with_the_fix():
    with pytest.raises(api.BadInput, match="nearest that do: 32 or 64"):
        api.rl(**dict(JOB, train_global_batch=60))
    with pytest.raises(api.BadInput, match="--rollout-tp 16 must divide"):
        api.rl(**dict(JOB, rollout_tp=16))
    with pytest.raises(api.BadInput, match="must stay below --max-seq-len"):
        api.rl(**dict(JOB, response_len=4000))
    with pytest.raises(api.BadInput, match="both --rollout-chip and --rollout-devices"):
        api.rl(**dict(JOB, rollout_chip="ascend-910b"))
    with pytest.raises(api.BadInput, match="did you mean grpo"):
        api.rl(**dict(JOB, algorithm="grp"))


def test_search_is_never_slower_than_the_layout_it_starts_from_and_keeps_two_kinds_pools():
    job = dict(JOB, devices=16, off_policy_steps=1)
    plain = api.rl(**job)
    best = api.rl(search=True, **job)
    assert best.step_time_s <= plain.step_time_s
    assert best.train_devices + (0 if best.colocated else best.rollout_devices) == 16
    assert best.notes[0].startswith("searched")
    two = api.rl(search=True, **dict(JOB, rollout_chip="ascend-910b", rollout_devices=16))
    assert (two.train_devices, two.rollout_devices, two.rollout_chip.name) == (8, 16, "ascend-910b")


def test_steps_add_the_runs_reliability_and_cost_blocks_as_train_does():
    r = api.rl(steps=1000, **JOB)
    data = r.to_dict()
    assert {"reliability", "cost"} <= set(data)
    work_s = 1000 * r.step_time_s
    assert data["reliability"]["total_time_s"] >= work_s
    assert data["cost"]["device_hours"] == pytest.approx(data["reliability"]["total_time_s"] * 8 / 3600, rel=1e-6)
    assert "reliability" not in api.rl(**JOB).to_dict()
