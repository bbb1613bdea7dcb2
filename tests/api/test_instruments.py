"""The instrument endpoints publish what the scorer uses."""

from tests.helpers import anonymous


def test_list_instruments(world):
    items = world.as_patient_1().get("/api/v1/instruments").json["items"]
    assert [(i["code"], i["item_count"], i["min_score"], i["max_score"]) for i in items] == [
        ("phq9", 9, 0, 27),
        ("gad7", 7, 0, 21),
        ("pcl5", 20, 0, 80),
    ]


def test_instrument_detail_shows_thresholds_bands_and_codes(world):
    body = world.as_clinician_a().get("/api/v1/instruments/phq9").json
    assert body["thresholds"] == {
        "cutoff": 10,
        "mcid": 5,
        "reliable_change": 6,
        "remission_below": 5,
        "caseness": 10,
        "recovery_below": 10,
        "response_fall_fraction": 0.5,
    }
    assert [(b["code"], b["min"], b["max"]) for b in body["bands"]] == [
        ("minimal", 0, 4),
        ("mild", 5, 9),
        ("moderate", 10, 14),
        ("moderately_severe", 15, 19),
        ("severe", 20, 27),
    ]
    assert body["codes"]["panel"] == "44249-1" and body["codes"]["total"] == "44261-6"
    assert body["items"][8]["loinc"] == "44260-8"
    assert [o["value"] for o in body["items"][0]["options"]] == [0, 1, 2, 3]
    pcl5 = world.as_clinician_a().get("/api/v1/instruments/pcl5").json
    assert pcl5["thresholds"]["cutoff"] == 33 and pcl5["thresholds"]["reliable_change"] == 15
    # Marx 2022: recovered at 28 or below, i.e. below 29
    assert (pcl5["thresholds"]["caseness"], pcl5["thresholds"]["recovery_below"]) == (33, 29)
    assert pcl5["max_missing"] == 2
    # Only the PHQ-9 has the depressive-syndrome algorithm (docs/clinical-rules.md, "PHQ-9").
    assert body["has_depressive_syndrome"] is True
    assert pcl5["has_depressive_syndrome"] is False
    gad7 = world.as_clinician_a().get("/api/v1/instruments/gad7").json
    assert (gad7["has_depressive_syndrome"], gad7["has_provisional_diagnosis"]) == (False, False)


def test_unknown_instrument_and_anonymous(world):
    assert world.as_admin().get("/api/v1/instruments/PHQ9").status_code == 404
    assert anonymous(world.app).get("/api/v1/instruments").status_code == 401
