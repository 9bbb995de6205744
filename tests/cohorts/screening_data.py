"""POST data of the screening form for the tests of screening and enrolment (not a test module)."""

MILAN_ELIGIBLE = {
    "age_years": "62",
    "covid_rt_pcr_confirmed": "yes",
    "bilateral_infiltrates": "yes",
    "pao2_mmhg": "60",
    "pao2_mmhg_unit": "mmHg",
    "fio2": "0.5",
    "fio2_unit": "fraction",
    "peep_cmh2o": "10",
    "left_atrial_hypertension_excluded": "yes",
    "crp_mg_l": "150",
    "crp_mg_l_unit": "mg/L",
    "ferritin_ng_ml": "1200",
    "ferritin_ng_ml_unit": "ng/mL",
    "on_niv_outside_icu": "yes",
    "written_consent": "yes",
    "in_icu_on_mechanical_ventilation": "no",
    "bacterial_infection": "no",
    "anti_inflammatory_or_glucocorticoids": "no",
    "enrolled_in_other_trial": "no",
}


def milan_post(site, **changes) -> dict:
    data = {"site": str(site.pk), "assessed_at": "2020-03-16T09:30", "action": "save", **MILAN_ELIGIBLE}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}
