"""MSISDN normalisation and hashing."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpesa_daraja_kit.errors import ErrorCode, InvalidPhoneNumber
from mpesa_daraja_kit.phone import (
    MsisdnKind,
    classify_msisdn,
    hash_msisdn,
    mask_msisdn,
    matching_hash,
    normalize_msisdn,
)

SANDBOX_HASH = "bbff37cea44ac0b2d964ee0dfb8d2df8513dc7ba1b36129a929fc3fbd6dd4af4"

subscriber = st.tuples(st.sampled_from("71"), st.text("0123456789", min_size=8, max_size=8)).map(
    "".join
)


@given(
    subscriber, st.sampled_from(["0{}", "+254{}", "254{}", "{}"]), st.sampled_from([" ", "-", ""])
)
def test_every_accepted_form_normalises_to_the_same_number(
    digits: str, form: str, separator: str
) -> None:
    text = form.format(digits)
    spaced = separator.join([text[:4], text[4:7], text[7:]])
    assert normalize_msisdn(spaced) == "254" + digits
    assert normalize_msisdn(normalize_msisdn(spaced)) == "254" + digits  # idempotent


@given(subscriber)
def test_hash_is_sha256_of_the_normalised_number(digits: str) -> None:
    normalized = "254" + digits
    assert hash_msisdn("0" + digits) == hashlib.sha256(normalized.encode()).hexdigest()
    assert matching_hash("0" + digits) == matching_hash(hash_msisdn(normalized).upper())


def test_known_sandbox_hash() -> None:
    assert hash_msisdn("0708374149") == SANDBOX_HASH
    assert normalize_msisdn(708374149) == "254708374149"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "12345",
        "0812345678",
        "2548123456789",
        "+1 202 555 0143",
        "07123456789",
        "abc",
        "0712x45678",
    ],
)
def test_other_values_are_rejected_with_a_stable_code(bad: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_msisdn(bad)
    assert info.value.code is ErrorCode.INVALID_PHONE_NUMBER
    assert "Kenyan mobile" in str(info.value)


@given(st.text(max_size=30))
def test_arbitrary_text_is_normalised_or_rejected_never_crashes(text: str) -> None:
    try:
        result = normalize_msisdn(text)
    except InvalidPhoneNumber:
        return
    assert len(result) == 12 and result.startswith(("2547", "2541"))


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (SANDBOX_HASH, MsisdnKind.HASHED),
        ("2547 ***** 126", MsisdnKind.MASKED),
        ("25471****234", MsisdnKind.MASKED),
        ("254722000111", MsisdnKind.PLAIN),
        ("", MsisdnKind.UNKNOWN),
        (None, MsisdnKind.UNKNOWN),
        ("hello", MsisdnKind.UNKNOWN),
    ],
)
def test_c2b_msisdn_forms_are_recognised(value: str | None, kind: MsisdnKind) -> None:
    assert classify_msisdn(value) is kind


def test_a_mask_matches_nothing() -> None:
    assert matching_hash("2547 ***** 126") is None


def test_mask_for_logs_hides_the_middle() -> None:
    assert mask_msisdn("254708374149") == "2547******49"
    assert mask_msisdn(SANDBOX_HASH).startswith("sha256:bbff37ce")
