"""The relation schema: the shipped news schema, mapping raw phrases, EDC target schemas,
entity and country normalisation, and clear errors for bad schema files."""

from __future__ import annotations

import pytest

from memoird.extractors.normalize import clean_entity, country_name, entity_key, polity_name
from memoird.extractors.schema import RelationSchema, SchemaError, templates

NEWS = {"P6": "head of government", "P169": "chief executive officer", "P108": "employer",
        "P127": "owned by", "P159": "headquarters location", "P26": "spouse",
        "P39": "position held", "P102": "member of political party", "P36": "capital",
        "P17": "country", "P54": "member of sports team"}


def test_builtin_schema_covers_news_and_every_relation_is_probeable():
    schema = RelationSchema.default()
    assert {pid: schema[pid].label for pid in NEWS} == NEWS
    assert templates("P54") == ("{subject} plays for", "{subject} is a player of",
                                "{subject} plays football for")
    # an office is asked in the role the news used, the default role otherwise
    assert templates("P6") == ("The Prime Minister of {subject} is",
                               "{subject}'s prime minister is")
    assert templates("P6", "Chancellor")[0] == "The Chancellor of {subject} is"
    news = [rel for rel in schema if rel.typed]
    assert {rel.id for rel in news} == {"P6", "P35", "P286", "P169", "P54", "P127", "P36",
                                        "P38"}
    for rel in news:  # every news relation can be asked as a question and read in text
        assert rel.questions and rel.triggers and "{subject}" in rel.reading_question
    assert templates("P999999") == ()
    for rel in schema:
        assert rel.probeable and all(t.count("{subject}") == 1 for t in rel.templates), rel.id
        assert rel.definition and rel.id.startswith("P")
    # every relation of the wiki-nre target schema has a canonical counterpart
    assert schema["P131"].label == "located in the administrative territorial entity"


def test_mapping_exact_then_embedding_then_nothing(relation_mapper):
    got = {m.raw: (m.id, m.method) for m in relation_mapper.map_many(
        ["plays for", "CEO", "was born in", "is the wife of", "zorbled the flux of", ""])}
    assert got["plays for"] == ("P54", "exact")
    assert got["CEO"] == ("P169", "exact")
    assert got["was born in"] == ("P19", "embedding")
    assert got["is the wife of"] == ("P26", "embedding")
    assert got["zorbled the flux of"] == (None, "none")
    assert got[""] == (None, "none")


def test_edc_schema_inherits_aliases_and_templates(shared_data):
    base = RelationSchema.default()
    webnlg = RelationSchema.from_csv(shared_data / "extraction" / "webnlg.schema.csv",
                                     enrich_from=base)
    birth = webnlg["birthPlace"]
    assert "place of birth" in birth.aliases and "born in" in birth.aliases
    assert birth.templates == base["P19"].templates
    assert webnlg.exact("born in").id == "birthPlace"
    wiki = RelationSchema.from_csv(shared_data / "extraction" / "wiki-nre.schema.csv",
                                   enrich_from=base)
    assert len(wiki) == 45 and wiki["country"].object_type == "country"


def test_bad_schema_files_are_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[relation]]\nid = "P1"\nlabel = "x"\ndefinition = "d"\n'
                   'templates = ["no slot here"]\n')
    with pytest.raises(SchemaError, match=r"bad\.toml.*P1.*no \{subject\} slot"):
        RelationSchema.load(bad)
    bad.write_text('[[relation]]\nid = "P1"\nlabel = "x"\n')
    with pytest.raises(SchemaError, match=r"bad\.toml: relation #1: missing or empty 'definition'"):
        RelationSchema.load(bad)
    bad.write_text("[[relation]\n")
    with pytest.raises(SchemaError, match=r"bad\.toml"):
        RelationSchema.load(bad)
    csv = tmp_path / "s.csv"
    csv.write_text("justalabel\n")
    with pytest.raises(SchemaError, match=r"s\.csv:1"):
        RelationSchema.from_csv(csv)


@pytest.mark.parametrize("raw,display,key", [
    ("Mr. Joe Biden", "Joe Biden", "joe biden"),
    ("President Joe_Biden,", "Joe Biden", "joe biden"),
    ("president of France", "president of France", "president of france"),
    ("the U.S.", "the U.S.", "united states"),
    ("  Apple's ", "Apple", "apple inc"),
    ("General Motors", "General Motors", "general motors"),
    ("(Zürich)", "Zürich", "zurich"),
])
def test_entity_normalisation(raw, display, key):
    assert clean_entity(raw) == display
    assert entity_key(raw) == key


def test_country_names_and_demonyms():
    assert country_name("Indian") == "India"
    assert country_name("the United States") == "United States"
    assert country_name("Karnataka") is None
    # a state is no country's value, but the news reader's subject of its own premier
    assert polity_name("Karnataka") == "Karnataka"
    assert polity_name("Indian") == "India"


def test_elsewhere_names_the_subjects_other_relations_but_not_the_edits_own():
    schema = RelationSchema.default()
    head_of_state = schema.elsewhere("P35")
    assert {"prime minister", "head of government", "capital", "head coach"} <= set(head_of_state)
    assert "president" not in head_of_state and "head of state" not in head_of_state
    assert {"president", "prime minister"} <= set(schema.elsewhere("P286"))
    # "boss" names a chief executive and a coach alike, so it keeps neither off the other
    assert "boss" not in schema.elsewhere("P169") and "boss" not in schema.elsewhere("P286")
    assert {"owner", "owns"} <= set(schema.elsewhere("P169"))
    assert schema.elsewhere("P54") == () and schema.elsewhere("P999") == ()
