"""Personas: the latent class model on data drawn from a known model, and on the simulator."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

from crm_analytics.core.errors import InputError, InsufficientDataError, NotFittedError
from crm_analytics.models.personas import (
    PersonaModel,
    describe_personas,
    persona_crosstab,
    persona_features,
    persona_stability,
)
from crm_analytics.sim import simulate_dealer

N_CUSTOMERS = 6000


def _draw_known(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Three classes with known categorical, multi-choice and Gaussian indicators, 15 % gaps."""
    rng = np.random.default_rng(seed)
    z = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    use_p = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    # option u is almost always chosen, so an empty (= unanswered) set is rare
    opt_p = np.array(
        [[0.7, 0.1, 0.1, 0.5, 0.97], [0.1, 0.7, 0.1, 0.5, 0.97], [0.1, 0.1, 0.7, 0.5, 0.97]]
    )
    age_mu = np.array([30.0, 40.0, 50.0])
    use = np.array([rng.choice(["a", "b", "c"], p=use_p[k]) for k in z], dtype=object)
    opts = ["x", "y", "w", "v", "u"]
    hob = np.array(
        [";".join(o for j, o in enumerate(opts) if rng.random() < opt_p[k, j]) or None for k in z],
        dtype=object,
    )
    age = rng.normal(age_mu[z], 4.0)
    use[rng.random(n) < 0.15] = None
    hob[rng.random(n) < 0.15] = None
    age[rng.random(n) < 0.15] = np.nan
    return pd.DataFrame({"use": use, "hobbies": hob, "age": age}), z


def _model(**kw) -> PersonaModel:
    return PersonaModel(categorical=["use"], multilabel=["hobbies"], numeric=["age"], **kw)


def test_recovers_known_latent_classes():
    X, z = _draw_known(3000, 0)
    m = _model(n_personas=3, random_state=0, n_init=5).fit(X)
    assert adjusted_rand_score(z, m.predict(X)) > 0.8
    # canonical order: by mean age -> class k has age mean 30, 40, 50
    np.testing.assert_allclose(m.means_[:, 0], [30, 40, 50], atol=1.0)
    np.testing.assert_allclose(m.weights_, [0.5, 0.3, 0.2], atol=0.04)
    np.testing.assert_allclose(m.sds_[:, 0], 4.0, atol=0.5)
    assert m.cat_probs_["use"][0, 0] == pytest.approx(0.8, abs=0.05)
    hob = m.categories_["hobbies"]
    # an empty choice set reads as "not answered", so compare with the answered rows of each class
    answered = X["hobbies"].notna().to_numpy()
    for o in ("v", "x"):
        has = X["hobbies"].fillna("").str.split(";").map(lambda s, o=o: o in s).to_numpy()
        emp = [has[answered & (z == k)].mean() for k in range(3)]
        np.testing.assert_allclose(m.multi_probs_["hobbies"][:, hob.index(o)], emp, atol=0.05)
    p = m.predict_proba(X)
    assert np.allclose(p.sum(1), 1.0)
    # a row with every answer missing gets the class shares as its posterior
    empty = pd.DataFrame({"use": [None], "hobbies": [None], "age": [np.nan]})
    np.testing.assert_allclose(m.predict_proba(empty)[0], m.weights_)
    # BIC prefers the true number of classes
    bics = {k: _model(n_personas=k, random_state=0, n_init=3).fit(X).bic(X) for k in (2, 3, 4)}
    assert min(bics, key=bics.get) == 3


def test_one_class_likelihood_by_hand():
    X, _ = _draw_known(400, 1)
    m = _model(n_personas=1, alpha=1.0, min_sd=1e-6, n_init=1).fit(X)
    use = X["use"].dropna()
    cnt = use.value_counts().reindex(["a", "b", "c"]).fillna(0)
    p_use = (cnt + 1) / (cnt.sum() + 3)
    ll = (use.map(np.log(p_use))).sum()
    hob = X["hobbies"].dropna().str.split(";")
    for o in ["u", "v", "w", "x", "y"]:
        has = hob.map(lambda s, o=o: o in s)
        q = (has.sum() + 1) / (len(has) + 2)
        ll += has.sum() * np.log(q) + (~has).sum() * np.log(1 - q)
    age = X["age"].dropna()
    mu, sd = age.mean(), age.std(ddof=0)
    ll += (-0.5 * ((age - mu) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)).sum()
    assert m.score(X) * len(X) == pytest.approx(ll, rel=1e-9)


def test_estimator_contract():
    m = _model(n_personas=2, random_state=3)
    assert clone(m).get_params() == m.get_params()
    X, _ = _draw_known(200, 2)
    with pytest.raises(NotFittedError):
        m.predict(X)
    with pytest.raises(InputError, match="missing"):
        m.fit(X.drop(columns=["use"]))
    with pytest.raises(InsufficientDataError):
        _model(n_personas=4).fit(X.head(20))
    assert not hasattr(m, "weights_")
    m.fit(X)
    assert m.n_features_in_ == 3 and m.predict(X).shape == (200,)


@pytest.fixture(scope="module")
def two_sims():
    a = simulate_dealer(0, customers=N_CUSTOMERS, seed=1)
    b = simulate_dealer(0, customers=N_CUSTOMERS, seed=2)
    return a, b


def _truth(d, f):
    return (
        d.truth["customers"]
        .drop_duplicates("customer_id")
        .set_index("customer_id")["persona"]
        .reindex(f.index)
    )


def test_personas_stable_across_simulations(two_sims):
    """Stability: fit on simulation A and on simulation B (same persona population, other
    seed), predict the interviewed buyers of both with both fits, ARI between the two labelings.

    Measured (this test's size, 6,000 simulated customers per dealer, ~6,500 feature rows):
    ARI between fits 0.80-0.87; one 20,000-customer dealer per sample 0.88-0.90; a two-dealer
    network of 20,000 customers each per sample (~43,000 rows) 0.93 (the opt-in test below).
    Buyers-only fits (~1,400 interviews per 20,000 customers) reach 0.80. ARI against the true
    persona of the buyers is bounded by the overlap of the simulator's personas: 0.73 with the
    *true* parameters (EM started from the truth) at 20,000 customers; we get 0.65-0.74.
    """
    a, b = two_sims
    fa, fb = (
        persona_features(a, population="customers"),
        persona_features(b, population="customers"),
    )
    t0 = time.perf_counter()
    ma = PersonaModel(4, random_state=0, n_init=5, tol=1e-6).fit(fa)
    mb = PersonaModel(4, random_state=0, n_init=5, tol=1e-6).fit(fb)
    elapsed = time.perf_counter() - t0
    common = pd.concat([fa[fa["interviewed"]], fb[fb["interviewed"]]])
    stability = adjusted_rand_score(ma.predict(common), mb.predict(common))
    ta = _truth(a, fa[fa["interviewed"]])
    ok = ta.notna().to_numpy()
    vs_truth = adjusted_rand_score(ta[ok], ma.predict(fa[fa["interviewed"]])[ok])
    print(f"persona stability ARI={stability:.3f}, vs truth ARI={vs_truth:.3f}, fit {elapsed:.1f}s")
    assert stability >= 0.75
    assert vs_truth >= 0.55
    # same data, another random start: the optimiser lands on (nearly) the same partition
    # (measured 0.96-0.99 across simulator draws)
    mc = PersonaModel(4, random_state=7, n_init=5, tol=1e-6).fit(fa)
    assert adjusted_rand_score(ma.predict(fa), mc.predict(fa)) >= 0.95


def test_describe_and_crosstab_match_simulator_profiles(two_sims):
    a, _ = two_sims
    fa = persona_features(a, population="customers")
    m = PersonaModel(4, random_state=0, n_init=5, tol=1e-6).fit(fa)
    buyers = fa[fa["interviewed"]]
    desc = describe_personas(m, buyers)
    assert len(desc) == 4 and desc["size"].sum() == len(buyers)
    assert desc["description"].str.len().gt(40).all()
    # the oldest persona is the simulator's business owner: business use, mostly men
    old = desc.sort_values("mean_age").iloc[-1]
    assert "business" in old["top_use"] and old["male_share"] > 0.65
    assert "business" in old["description"]
    # family persona: the one whose leading use is family, buys the QX60 more than others
    fam = desc[desc["top_use"].str.startswith("family")]
    assert len(fam) == 1 and "QX60" in fam.iloc[0]["top_model"]
    labels = m.predict(buyers)
    ct = persona_crosstab(buyers, labels)
    assert ct["buyers"].sum() == len(buyers)
    assert np.allclose(ct.groupby("persona")["share_of_persona"].sum(), 1.0)
    with pytest.raises(InputError):
        persona_crosstab(buyers, labels[:-1])


def test_persona_features_buyers(two_sims):
    a, _ = two_sims
    f = persona_features(a)
    di = a.surveys[a.surveys["kind"] == "delivery_interview"]
    assert f.index.is_unique and set(f.index) == set(di["customer_id"])
    assert f["interviewed"].all() and f["model"].notna().mean() > 0.95
    yr = a.as_of.year
    by = a.customers.set_index("customer_id")["birth_year"].reindex(f.index).astype(float)
    np.testing.assert_allclose(f["age"].dropna(), (yr - by).dropna())
    with pytest.raises(InputError):
        persona_features(a, population="all")


@pytest.mark.skipif(
    not os.environ.get("CRM_SLOW_TESTS"), reason="network-scale run (~3 min); set CRM_SLOW_TESTS=1"
)
def test_personas_stable_at_network_scale():
    """The issue's bar (ARI >= 0.9) at the scale where personas are fitted: a network.

    Two "networks" of two 20,000-customer dealers, seeds 1 and 2 (same persona population,
    different draws); fit on each, ARI on the interviewed buyers of both. Measured 0.928.
    """

    def network(seed):
        return pd.concat(
            [
                persona_features(
                    simulate_dealer(i, customers=20000, seed=seed), population="customers"
                )
                for i in range(2)
            ]
        )

    res = persona_stability(network(1), network(2), random_state=0, n_init=5, tol=1e-6)
    assert res["ari"] >= 0.9, res


def test_persona_stability_function_matches_manual(two_sims):
    a, b = two_sims
    fa, fb = persona_features(a), persona_features(b)
    res = persona_stability(fa, fb, random_state=0, n_init=3, tol=1e-6)
    ma = PersonaModel(4, random_state=0, n_init=3, tol=1e-6).fit(fa)
    mb = PersonaModel(4, random_state=0, n_init=3, tol=1e-6).fit(fb)
    common = pd.concat([fa, fb])
    assert res["n_evaluated"] == len(common)
    assert res["ari"] == pytest.approx(adjusted_rand_score(ma.predict(common), mb.predict(common)))


def test_persona_table_lists_answers_by_their_share():
    """The report's persona table names each persona's distinctive answers largest share
    first, whatever order the profile found them in (by lift)."""
    from crm_analytics.report.sections import persona_table

    profile = pd.DataFrame(
        {
            "persona": [0],
            "size": [120],
            "share": [0.4],
            "mean_age": [38.2],
            "male_share": [0.7],
            "top_use": ["commute (40%)"],
            "top_industry": ["manufacturing (22%), it (31%)"],
            "top_hobbies": ["travel (18%), photography (35%)"],
            "top_media_seen": ["autohome (50%)"],
            "top_model": ["Sedan (60%)"],
        }
    )
    for lang in ("zh", "en"):
        row = persona_table(profile, lang).iloc[0]
        industry = [cell for cell in row if "31%" in str(cell)]
        hobbies = [cell for cell in row if "35%" in str(cell)]
        assert industry and industry[0].index("31%") < industry[0].index("22%"), row
        assert hobbies and hobbies[0].index("35%") < hobbies[0].index("18%"), row
