import pytest

from xpuplan.catalog import load_model
from xpuplan.cost.flops import active_params, attention_core_flops_per_token, matmul_flops_per_token, model_flops_per_token, total_params


def test_dense_flops_are_six_n_plus_causal_attention():
    m = load_model("llama3-8b")
    n_matmul = total_params(m) - m.vocab * m.hidden - (2 * m.layers + 1) * m.hidden  # no embedding lookup, no norms
    attention = 6 * m.layers * m.hidden * 8192 / 2 * 2  # 12 L h s for full attention, halved by the causal mask
    assert model_flops_per_token(m, 8192) == pytest.approx(6 * n_matmul + attention, rel=1e-3)


def test_attention_term_grows_linearly_with_sequence():
    m = load_model("llama2-7b")
    assert attention_core_flops_per_token(m, 8192) == pytest.approx(2 * attention_core_flops_per_token(m, 4096))


def test_moe_counts_only_activated_experts():
    m = load_model("deepseek-v3")
    assert active_params(m) < 0.07 * total_params(m)
    dense_equivalent = 2 * (active_params(m) - m.vocab * m.hidden)
    assert sum(matmul_flops_per_token(m).values()) == pytest.approx(dense_equivalent, rel=0.02)


def test_sliding_window_layers_attend_to_at_most_their_window():
    """gpt-oss-120b: every second layer attends within 128 tokens (HF layer_types), so at 32k tokens the attention
    work is about half that of full attention in every layer, and at 128 tokens it is the same."""
    import dataclasses

    from xpuplan.cost.flops import mean_keys_per_layer

    oss = load_model("gpt-oss-120b")
    full = dataclasses.replace(oss, sliding_window=None, window_layers=0)
    assert mean_keys_per_layer(oss, 128) == pytest.approx(mean_keys_per_layer(full, 128), rel=0.01)
    ratio = attention_core_flops_per_token(oss, 32768) / attention_core_flops_per_token(full, 32768)
    assert ratio == pytest.approx((18 * 16384 + 18 * (128 * 129 / 2 + (32768 - 128) * 128) / 32768) / (36 * 16384))
    assert 0.5 < ratio < 0.51
