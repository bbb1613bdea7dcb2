from tests.helpers import PHQ9_EXAMPLE, submit


def test_worked_example_round_trip(world):
    api = world.as_clinician_a()
    response = submit(api, world.patient_1)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["total"] == 11
    assert body["answers"] == PHQ9_EXAMPLE
