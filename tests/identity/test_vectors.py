"""Published test vectors: did:key (w3c-ccg/did-method-key) and eddsa-jcs-2022 (w3c/vc-di-eddsa).

The vectors are read from ../shared/vectors beside the project; a missing file fails the run (at
collection for the parametrised tests) rather than skipping it.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import base58
import pytest

from trustspace.core.canonical import canonicalize
from trustspace.core.errors import Unauthenticated
from trustspace.core.keys import SigningKey
from trustspace.identity import credentials as vc
from trustspace.identity.did import DidResolver, did_key, verification_method_id
from trustspace.identity.errors import InvalidProof

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
DID_KEY_FILE = VECTORS / "did-key" / "ed25519-x25519.json"
EDDSA = VECTORS / "vc-di-eddsa" / "TestVectors"
JCS = EDDSA / "eddsa-jcs-2022"

Path_ = tuple[str | int, ...]


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def for_collection(path: Path, missing: Any) -> Any:
    """Vector data used only to build parameter lists. A missing file yields ``missing`` (one dummy case)
    so every test still runs and fails on its own when it reads the file, instead of one collection error
    hiding the rest of the suite."""
    return load(path) if path.is_file() else missing


def text(name: str) -> str:
    return (JCS / name).read_text(encoding="utf-8").strip()


# ---------------------------------------------------------------- did:key


def is_ed25519(pair: dict[str, Any]) -> bool:
    # Entries write the key either as an Ed25519VerificationKey2018 or as an OKP JsonWebKey2020.
    return str(pair["type"]).startswith("Ed25519") or pair.get("publicKeyJwk", {}).get("crv") == "Ed25519"


def raw_public_key(pair: dict[str, Any]) -> bytes:
    if "publicKeyBase58" in pair:
        return bytes(base58.b58decode(pair["publicKeyBase58"]))
    x = pair["publicKeyJwk"]["x"]
    return base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))


def ed25519_dids(entries: dict[str, Any]) -> list[str]:
    return [did for did, entry in entries.items() if is_ed25519(entry["verificationKeyPair"])]


DID_KEY_DIDS = ed25519_dids(for_collection(DID_KEY_FILE, {})) or ["<did-key vectors missing>"]


def test_did_key_vectors_are_present() -> None:
    assert len(ed25519_dids(load(DID_KEY_FILE))) == 5


@pytest.mark.parametrize("did", DID_KEY_DIDS)
def test_did_key_from_seed(did: str) -> None:
    entry = load(DID_KEY_FILE)[did]
    public = SigningKey.from_seed(bytes.fromhex(entry["seed"])).public
    assert did_key(public) == did
    assert public.raw == raw_public_key(entry["verificationKeyPair"])


@pytest.mark.parametrize("did", DID_KEY_DIDS)
def test_did_key_document_resolves_to_the_same_key(did: str) -> None:
    entry = load(DID_KEY_FILE)[did]
    public = SigningKey.from_seed(bytes.fromhex(entry["seed"])).public
    method = entry["didDocument"]["assertionMethod"][0]
    assert verification_method_id(did) == method
    resolver = DidResolver(fetch=lambda url: pytest.fail(f"did:key must not fetch {url}"))
    assert resolver.key_for(method) == public
    assert resolver.key_for(entry["didDocument"]["authentication"][0], "authentication") == public
    assert resolver.resolve(did)["id"] == entry["didDocument"]["id"]


# ---------------------------------------------------------------- eddsa-jcs-2022: signing


def test_key_pair_vector() -> None:
    pair = load(EDDSA / "keyPair.json")
    assert (
        SigningKey.from_multibase(pair["privateKeyMultibase"]).public.multibase == pair["publicKeyMultibase"]
    )


def signing_inputs() -> tuple[dict[str, Any], SigningKey, dict[str, Any]]:
    unsigned = load(EDDSA / "unsigned.json")
    key = SigningKey.from_multibase(load(EDDSA / "keyPair.json")["privateKeyMultibase"])
    return unsigned, key, load(JCS / "proofConfigJCS.json")


def test_proof_configuration_and_canonical_forms() -> None:
    unsigned, _, expected_config = signing_inputs()
    config = vc.proof_config(unsigned, expected_config["verificationMethod"], expected_config["created"])
    assert config == expected_config
    assert canonicalize(config).decode() == text("proofCanonJCS.txt")
    assert canonicalize(unsigned).decode() == text("canonDocJCS.txt")


def test_intermediate_hashes() -> None:
    unsigned, _, config = signing_inputs()
    data = vc.hash_data(unsigned, config)
    assert data[:32].hex() == text("proofHashJCS.txt")
    assert data[32:].hex() == text("docHashJCS.txt")
    assert data.hex() == text("combinedHashJCS.txt")


def test_signing_reproduces_the_signed_vector() -> None:
    unsigned, key, config = signing_inputs()
    before = copy.deepcopy(unsigned)
    signed = vc.sign(unsigned, key, config["verificationMethod"], config["created"])
    assert signed["proof"]["proofValue"] == text("sigBTC58JCS.txt")
    assert base58.b58decode(signed["proof"]["proofValue"][1:]).hex() == text("sigHexJCS.txt")
    assert signed == load(JCS / "signedJCS.json")
    assert unsigned == before


# ---------------------------------------------------------------- eddsa-jcs-2022: verification

SIGNED_FILE = JCS / "signedJCS.json"


def signed_vector() -> dict[str, Any]:
    document: dict[str, Any] = load(SIGNED_FILE)
    return document


def check(document: dict[str, Any]) -> None:
    # The vector's issuer is an https URL, not the did:key that signed it, so the issuer binding that
    # TrustSpace credentials need is off here; test_issuer_binding_rejects_the_vector covers it.
    vc.verify(document, DidResolver().key_for, check_issuer=False)


def test_verify_accepts_the_signed_vector() -> None:
    check(signed_vector())


def test_issuer_binding_rejects_the_vector() -> None:
    with pytest.raises(InvalidProof) as raised:
        vc.verify(signed_vector(), DidResolver().key_for)
    assert raised.value.field == "proof.verificationMethod"


def leaf_strings(value: Any, path: Path_ = ()) -> list[Path_]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in leaf_strings(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in leaf_strings(item, (*path, index))]
    return [path] if isinstance(value, str) else []


def containers(value: Any, path: Path_ = ()) -> list[tuple[Path_, Any]]:
    found = [(path, value)] if isinstance(value, dict | list) else []
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    )
    for key, item in children:
        found += containers(item, (*path, key))
    return found


def get(document: Any, path: Path_) -> Any:
    for step in path:
        document = document[step]
    return document


def show(path: Path_) -> str:
    return ".".join(str(step) for step in path) or "<root>"


def replace_char(value: str, position: int) -> str:
    replacement = "X" if value[position] != "X" else "Y"
    return value[:position] + replacement + value[position + 1 :]


# Parameters come from the file at collection; each test re-reads it, so a missing file fails every test.
SIGNED_FOR_COLLECTION = for_collection(SIGNED_FILE, {"<signedJCS.json missing>": ""})
LEAVES = leaf_strings(SIGNED_FOR_COLLECTION)
CHANGES = [(path, where) for path in LEAVES for where in ("first", "middle", "last")]


def test_every_leaf_is_covered() -> None:
    assert ("proof", "proofValue") in LEAVES
    assert ("credentialSubject", "alumniOf") in LEAVES
    assert len(LEAVES) == 19


@pytest.mark.parametrize(("path", "where"), CHANGES, ids=[f"{show(p)}@{w}" for p, w in CHANGES])
def test_changing_one_character_of_any_string_fails(path: Path_, where: str) -> None:
    document = signed_vector()
    value = get(document, path)
    position = {"first": 0, "middle": len(value) // 2, "last": len(value) - 1}[where]
    get(document, path[:-1])[path[-1]] = replace_char(value, position)
    assert document != signed_vector()
    with pytest.raises(Unauthenticated):
        check(document)


CONTAINERS = containers(SIGNED_FOR_COLLECTION)


@pytest.mark.parametrize(("path", "container"), CONTAINERS, ids=[show(p) for p, _ in CONTAINERS])
def test_adding_a_field_or_element_fails(path: Path_, container: Any) -> None:
    document = signed_vector()
    target = get(document, path)
    if isinstance(target, dict):
        target["extra"] = "added"
    else:
        target.append("https://example.org/added")
    with pytest.raises(Unauthenticated):
        check(document)


REMOVALS = [
    (path, key)
    for path, container in CONTAINERS
    for key in (container if isinstance(container, dict) else range(len(container)))
]


@pytest.mark.parametrize(("path", "key"), REMOVALS, ids=[show((*p, k)) for p, k in REMOVALS])
def test_removing_a_field_or_element_fails(path: Path_, key: str | int) -> None:
    document = signed_vector()
    del get(document, path)[key]
    with pytest.raises(Unauthenticated):
        check(document)


def test_changing_a_field_name_fails() -> None:
    for path, container in CONTAINERS:
        if not isinstance(container, dict):
            continue
        for key in container:
            document = signed_vector()
            target = get(document, path)
            target[key + "x"] = target.pop(key)
            with pytest.raises(Unauthenticated):
                check(document)


def test_context_changed_in_document_and_proof_alike_fails_on_the_signature() -> None:
    document = signed_vector()
    document["@context"][1] = document["proof"]["@context"][1] = "https://example.org/other/v1"
    with pytest.raises(InvalidProof) as raised:
        check(document)
    assert raised.value.field == "proof.proofValue"


def test_other_valid_created_time_fails_on_the_signature() -> None:
    document = signed_vector()
    document["proof"]["created"] = "2023-02-24T23:36:39Z"
    with pytest.raises(InvalidProof) as raised:
        check(document)
    assert raised.value.field == "proof.proofValue"
