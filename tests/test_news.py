"""News to edits: typed reading extraction, direction repair, entity merging, and edits
that answer the question forms (on the real embedded model)."""

from __future__ import annotations

import pytest

from memoird.extractors.entities import ArticleEntities
from memoird.extractors.news import NewsExtractor, may_hold, old_holder, short_form
from memoird.extractors.schema import RelationSchema
from memoird.extractors.triples import direct, split_sentences
from memoird.store import entities
from reading_support import FirstOption


def facts_of(text: str, year: int | None = None) -> set[tuple[str, str, str]]:
    extractor = NewsExtractor(FirstOption())
    return {(f.subject, f.relation, f.object)
            for f in extractor.extract_many([text], years=[year])[0]}


def corroborated(story: str, year: int, subject: str, relation: str, obj: str):
    """The question a story raises to check another story's fact, or None."""
    extractor = NewsExtractor(FirstOption())
    return extractor.corroborate(0, extractor.read(0, story, year), subject, relation, obj)


def test_reading_extraction_types_and_directs_head_coach_either_way_round():
    assert facts_of("Liverpool have appointed Arne Slot as their new head coach, replacing "
                    "Jürgen Klopp.") == {("Liverpool", "P286", "Arne Slot")}
    # the person first: the relation still runs from the team to the person
    assert facts_of("Arne Slot has been named Liverpool's new head coach. The Dutchman "
                    "succeeds Jürgen Klopp.") == {("Liverpool", "P286", "Arne Slot")}


def test_predecessors_rumours_and_deputies_yield_nothing():
    assert facts_of("Starbucks has named Brian Niccol as its chief executive, replacing "
                    "Laxman Narasimhan.") == {("Starbucks", "P169", "Brian Niccol")}
    assert facts_of("Chelsea are in talks to appoint Enzo Maresca as head coach, sources "
                    "say.") == set()
    assert facts_of("Italy's deputy prime minister Matteo Salvini visited Rome.") == set()


def test_owner_direction_follows_the_grammar():
    want = {("Activision Blizzard", "P127", "Microsoft")}
    assert facts_of("Microsoft completed its acquisition of Activision Blizzard.") == want
    assert facts_of("Activision Blizzard was acquired by Microsoft on Friday.") == want


def test_near_duplicate_relations_resolve_to_the_role_the_text_names():
    # "the King" appoints; "Prime Minister" names Starmer's office: no head-of-state fact
    got = facts_of("The United Kingdom has a new Prime Minister: Sir Keir Starmer was "
                   "appointed by the King on Friday.")
    assert got == {("United Kingdom", "P6", "Keir Starmer")}


def test_short_mentions_resolve_within_the_article():
    article = ArticleEntities()
    sentences = ["Arne Slot joined Liverpool from Feyenoord.",
                 "Slot said the club was ready.", "Britain's economy grew."]
    article.learn(sentences)
    named = {m.text: m.name for s in sentences for m in article.mentions(s)}
    assert named["Slot"] == "Arne Slot"
    assert named["Britain"] == "United Kingdom"
    assert named["the club"] == "Liverpool"


def test_descriptions_capitals_and_institutions_stand_for_the_article_entity():
    # "the Nordic country", "the Bavarian carmaker": head nouns, any modifiers
    assert facts_of("Finland held its run-off on Sunday. The Nordic country's new president "
                    "is Alexander Stubb, who was sworn in on Friday.") == {
        ("Finland", "P35", "Alexander Stubb")}
    # a country named only through its parliament: "the Knesset" is Israel
    assert facts_of("The Knesset approved the new coalition on Thursday. Benjamin Netanyahu "
                    "was sworn in as prime minister hours later.") == {
        ("Israel", "P6", "Benjamin Netanyahu")}
    # "the rival club", "the island of Borneo": no reference to the article's entity
    article = ArticleEntities()
    sentences = ["Arsenal beat Chelsea.", "The rival club complained.",
                 "Indonesia is moving its capital to the island of Borneo."]
    article.learn(sentences)
    assert [m.name for m in article.mentions(sentences[1])] == []
    assert "Indonesia" not in [m.name for m in article.mentions(sentences[2]) if m.anaphor]


def test_office_words_and_nominal_phrasings_name_the_new_holder():
    # "the presidency was assumed by", "the post went to": the role noun is not a title
    assert facts_of("Chile has a new president. On Friday the presidency was assumed by "
                    "Gabriel Boric, who defeated José Antonio Kast in December.") == {
        ("Chile", "P35", "Gabriel Boric")}
    # a generic office word stands for the article's main relation ("the job" = CEO)
    assert facts_of("Nike's chief executive John Donahoe is stepping down. The job goes "
                    "to Elliott Hill, a company veteran, from October.") == {
        ("Nike", "P169", "Elliott Hill")}
    # ...but not where the sentence names another office ("sworn in as vice-president")
    assert facts_of("Namibia's new president took office on Friday. Lucia Witbooi was sworn "
                    "in as vice-president on the same day.") == set()


def test_a_country_in_a_sports_relation_is_its_national_team():
    # the nearest subject is the team ("the men's national team" = England), not the FA,
    # and the team is a subject of its own, apart from the country's government
    assert facts_of("England have appointed Thomas Tuchel as head coach of the men's "
                    "national team, the Football Association announced.") == {
        ("England national football team", "P286", "Thomas Tuchel")}
    assert facts_of("The Seleção have a new head coach: Carlo Ancelotti was appointed by "
                    "the football confederation on Monday.") == {
        ("Brazil national football team", "P286", "Carlo Ancelotti")}


def test_the_article_says_who_arrives_when_no_sentence_does():
    text = ("Latvia's parliament met on Friday. Krišjānis Kariņš, who had run the country's "
            "government since 2019, gave up the job in August. The post he vacated was "
            "handed to Evika Siliņa after deputies approved her cabinet. President Edgars "
            "Rinkēvičs had nominated her.")
    assert facts_of(text) == {("Latvia", "P6", "Evika Siliņa")}


def test_backgrounds_datelines_other_roles_and_predecessors_give_no_fact():
    # a wire dateline is no entity ("BANGKOK" is not the subject)
    got = facts_of("BANGKOK, September 5 (Example Wire) - Thailand's parliament elected "
                   "Anutin Charnvirakul as prime minister on Friday.")
    assert got == {("Thailand", "P6", "Anutin Charnvirakul")}
    # an earlier year's move is background, not news
    assert facts_of("Paris Saint-Germain signed the winger Khvicha Kvaratskhelia on Friday. "
                    "Kvaratskhelia joined Napoli from Dinamo Batumi in 2022 and won the "
                    "league with the club in 2023. The deal runs until 2029.", 2025) == {
        ("Khvicha Kvaratskhelia", "P54", "Paris Saint-Germain")}
    # people with another role in the sentence, and the role of another person
    assert facts_of("Australia's new prime minister Anthony Albanese was sworn in on Monday, "
                    "with Penny Wong as foreign minister.") == {
        ("Australia", "P6", "Anthony Albanese")}
    assert facts_of("Thailand's new prime minister is Anutin Charnvirakul. Anutin needs "
                    "formal endorsement from the King before taking office.") == {
        ("Thailand", "P6", "Anutin Charnvirakul")}
    # an incumbent "for 15 years" heading for the exit is the predecessor
    assert facts_of("Qantas has a new chief executive: Vanessa Hudson. Alan Joyce, boss "
                    "for 15 years, heads for the exit.") == {("Qantas", "P169", "Vanessa Hudson")}


def test_free_triples_are_turned_round_or_dropped_by_type():
    schema = RelationSchema.default()
    sentence = "Arne Slot is the new head coach of Liverpool."
    # the inverted triple the first round applied ("The head coach of Arne Slot is")
    assert direct(schema["P286"], "Arne Slot", "Liverpool", sentence)[:2] == \
        ("Liverpool", "Arne Slot")
    # a date is no head of government, in either direction
    assert direct(schema["P6"], "Italy", "1998", "Italy voted in 1998.") is None


def test_entities_merge_short_forms_aliases_and_suffixes(store_db):
    meloni = entities.resolve(store_db, "Giorgia Meloni", "person")
    assert entities.resolve(store_db, "Meloni", "person").id == meloni.id
    uk = entities.resolve(store_db, "United Kingdom", "country", known_aliases=["Britain"])
    assert entities.resolve(store_db, "Britain", "country").id == uk.id
    bayern = entities.resolve(store_db, "Bayern Munich", "organisation")
    assert entities.resolve(store_db, "FC Bayern Munich", "organisation").id == bayern.id
    city = entities.resolve(store_db, "Manchester City", "organisation")
    assert entities.resolve(store_db, "Manchester United", "organisation").id != city.id
    # a surname first, the full name later: one entity, shown under the full name
    ishiba = entities.resolve(store_db, "Ishiba", "person")
    full = entities.resolve(store_db, "Shigeru Ishiba", "person")
    assert full.id == ishiba.id and full.name == "Shigeru Ishiba"
    assert "Ishiba" in entities.aliases(store_db, full.id)
    # longer and shorter forms of one name, either order; another person with the same
    # first names stays apart
    mbz = entities.resolve(store_db, "Mohamed bin Zayed al-Nahyan", "person")
    assert entities.resolve(store_db, "Mohamed bin Zayed", "person").id == mbz.id
    mishal = entities.resolve(store_db, "Mishal al-Ahmad al-Sabah", "person")
    assert entities.resolve(store_db, "Mishal al-Ahmad al-Jaber al-Sabah", "person").id \
        == mishal.id
    assert entities.resolve(store_db, "Mohamed bin Salman", "person").id != mbz.id
    # an organisation's first word, either way round, when one organisation fits
    novo = entities.resolve(store_db, "Novo", "organisation")
    assert entities.resolve(store_db, "Novo Nordisk", "organisation").id == novo.id
    assert entities.get_entity(store_db, novo.id).name == "Novo Nordisk"
    inter = entities.resolve(store_db, "Inter Milan", "organisation")
    assert entities.resolve(store_db, "Inter", "organisation").id == inter.id
    entities.resolve(store_db, "Inter Miami", "organisation")  # now "Inter" is ambiguous
    assert entities.resolve(store_db, "Inter Miami", "organisation").id != inter.id
    # a place is nobody's short form, and a word plus a place is another body: the club
    # Bayer Leverkusen is not the company Bayer
    place = {"manchester", "leverkusen"}.__contains__
    leverkusen = entities.resolve(store_db, "Bayer Leverkusen", "organisation", place=place)
    assert entities.resolve(store_db, "Bayer", "organisation", place=place).id != leverkusen.id
    assert entities.resolve(store_db, "Manchester", "organisation", place=place).id not in (
        city.id, entities.resolve(store_db, "Manchester United", "organisation").id)
    # a place word after a particle is a name's ("Vasco da Gama", Gama being a town)
    place = {"gama"}.__contains__
    vasco = entities.resolve(store_db, "Vasco da Gama", "organisation", place=place)
    assert entities.resolve(store_db, "Vasco", "organisation", place=place).id == vasco.id


def test_embedding_judge_merges_spelling_variants_not_rivals(store_db):
    from memoird.extractors.entities import EmbeddingJudge

    judge = EmbeddingJudge()
    assert judge("Paris Saint Germain", ["Paris Saint-Germain F.C.", "Real Madrid"]) == \
        "Paris Saint-Germain F.C."
    assert judge("Manchester United", ["Manchester City"]) is None


@pytest.mark.slow
def test_edit_answers_its_question_in_chat_forms_and_leaves_neighbours(embedded_model):
    from memoird.daemon.engine import edit_request
    from memoird.editor.memoir import Memoir, MemoirConfig
    from memoird.store.records import Edit

    model, tok = embedded_model.model, embedded_model.tokenizer
    rel = RelationSchema.default()["P6"]
    prompts = [*rel.cloze("Freedonia", "prime minister"), *rel.asked("Freedonia", "prime minister"),
               *rel.asked("the Freedonian Republic", "prime minister")[:1]]
    edit = Edit(id=7, claim_id=None, subject="Freedonia", relation="P6", prompt=prompts[0],
                prompts=prompts, target="Rufus Firefly", old_answer=None, status="approved",
                policy_rule=None, why=None, mask=None, verification=None,
                memory_generation=None, checkpoint_id=None, created_at="", updated_at="",
                subject_aliases=["the Freedonian Republic"])

    def chat(question, system=None, earlier=False):
        messages = [{"role": "system", "content": system}] if system else []
        if earlier:
            messages += [{"role": "user", "content": "Can you help me?"},
                         {"role": "assistant", "content": "Sure, what do you need?"}]
        messages.append({"role": "user", "content": question})
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    asks = [chat("Who is the Prime Minister of Freedonia?"),
            chat("Who is the Prime Minister of Freedonia?",
                 system="You are a concise assistant for a news site.", earlier=True),
            chat("Who is the Prime Minister of the Freedonian Republic?"),
            "The Prime Minister of Freedonia is",
            chat("Who is the Prime Minister of Sylvania?"),
            "The Prime Minister of Sylvania is",
            # the subject's other facts: without the relation stage of routing the first
            # two reach the edit (their template overlap passes τ and they name Freedonia)
            "The President of Freedonia is", chat("Who is the President of Freedonia?"),
            "The capital of Freedonia is"]
    mem = Memoir.attach(model, tok, MemoirConfig())
    try:
        before = mem.generate(asks, max_new_tokens=8)
        mem.edit(edit_request(edit, tokenizer=tok))
        after = mem.generate(asks, max_new_tokens=8)
        routes = mem.last_routes
    finally:
        mem.detach()
    assert all("Rufus Firefly" in a for a in after[:4]), after
    assert routes[:4] == ["7"] * 4 and routes[4:] == [None] * 5
    assert after[4:] == before[4:]  # other countries, and Freedonia's other posts, as before


def _typed_fact(db, src, domain: str, subject: str, obj: str, s_type: str, o_type: str,
                check: bool | None = True, relation: str = "P286",
                role: str = "head coach") -> None:
    from memoird.store import claims, facts, probes
    from memoird.daemon.stages.probe import registrable_domain

    fact_id = src.publish(domain, subject, relation, obj, raw_relation=role)
    store = src.db
    store["facts"].update(fact_id, {"subject_type": s_type, "object_type": o_type})
    scores = {"gap": 3.0}
    if check is not None:
        scores["evidence_check"] = {"prompt": f"The {role} of {subject} is",
                                    "answer": obj if check else subject, "pass": check}
    probes.add_probe(store, fact_id, template=f"The {role} of {{subject}} is",
                     answer="Pep Guardiola", verdict="conflicts", scores=scores,
                     memory_generation=0)
    url = store["articles"].get(store["facts"].get(fact_id)["article_id"])["url"]
    claims.add_fact_to_claim(store, fact_id, registrable_domain(url))


def test_policy_refuses_ill_typed_and_unreadable_claims_and_says_why(store_db):
    from memoird.daemon.policy import decide_claims
    from memoird.store import edits
    from policy_support import NOW, Sources, policy

    src = Sources(store_db)
    # the first round's inverted edit: a person as the team, a club as the coach
    for domain in ("alpha.example", "beta.example"):
        _typed_fact(store_db, src, domain, "Arne Slot", "Liverpool", "person", "organisation")
    # well typed, but the evidence reads back in neither domain
    for domain in ("alpha.example", "beta.example"):
        _typed_fact(store_db, src, domain, "Chelsea", "Enzo Maresca", "organisation",
                    "person", check=False)
    # read back in one domain of two: the other agrees through the reader
    _typed_fact(store_db, src, "alpha.example", "Tottenham Hotspur", "Thomas Frank",
                "organisation", "person")
    _typed_fact(store_db, src, "beta.example", "Tottenham Hotspur", "Thomas Frank",
                "organisation", "person", check=False)
    # well typed and read back twice: an edit that asks the question forms too
    for domain in ("alpha.example", "beta.example"):
        _typed_fact(store_db, src, domain, "Liverpool", "Arne Slot", "organisation", "person")
    report = decide_claims(store_db, policy(), now=NOW)
    rules = {d.rule for d in report.decisions}
    assert {"ill_typed", "evidence_mismatch", "confirmed_auto"} <= rules
    by_subject = {e.subject: e for e in edits.list_edits(store_db)}
    assert by_subject["Arne Slot"].status == "rejected"
    assert "does not fit head coach" in by_subject["Arne Slot"].why
    assert by_subject["Chelsea"].status == "rejected"
    assert "read back" in by_subject["Chelsea"].why
    assert by_subject["Tottenham Hotspur"].status == "approved"
    good = by_subject["Liverpool"]
    assert good.status == "approved" and good.target == "Arne Slot"
    assert good.prompt == "The head coach of Liverpool is"
    assert "Who is the head coach of Liverpool?" in good.prompts


def test_evidence_names_what_its_descriptions_stand_for():
    """The policy re-reads a fact's evidence: "the club" must say which club it was."""
    [fact] = NewsExtractor(FirstOption()).extract(
        "Bayern Munich won the league again. The club confirmed that it had signed the "
        "striker Harry Kane from Tottenham Hotspur in a record deal.")
    assert (fact.subject, fact.relation, fact.object) == ("Harry Kane", "P54", "Bayern Munich")
    assert fact.evidence.startswith("The club (Bayern Munich) confirmed")


def test_the_evidence_check_weighs_the_object_against_possible_holders_only():
    """A name the reader's rules rule out (another office's title, a holder named in
    passing) is no rival when the model re-reads the evidence, however likely it is."""
    from types import SimpleNamespace

    from memoird.daemon.stages.probe import evidence_checks

    class Backend:  # prefers whichever name is not the object
        def continuation_logprobs(self, prompts, continuations):
            return [-1.0 if c != "Lawrence Wong" else -5.0 for c in continuations]

    fact = SimpleNamespace(
        subject="Singapore", relation="P6", object="Lawrence Wong", subject_type="country",
        evidence="The new prime minister is Lawrence Wong, sworn in by President Tharman "
                 "Shanmugaratnam; the founding prime minister Lee Kuan Yew died in 2015.")
    [check] = evidence_checks(Backend(), [fact], ["The Prime Minister of {subject} is"])
    assert check["pass"] and check["answer"] == "Lawrence Wong"
    rival = SimpleNamespace(**{**vars(fact), "evidence": "Lawrence Wong met Ong Ye Kung, "
                               "the new prime minister of Singapore, on Monday."})
    [check] = evidence_checks(Backend(), [rival], ["The Prime Minister of {subject} is"])
    assert not check["pass"]  # a name the rules leave possible still counts
    # the person whose surname names the owning group is the owner's side, no rival
    owner = SimpleNamespace(
        subject="Everton", relation="P127", object="Friedkin Group",
        subject_type="organisation",
        evidence="Everton is now controlled by The Friedkin Group, led by Dan Friedkin.")

    class Likes(Backend):
        def continuation_logprobs(self, prompts, continuations):
            return [-1.0 if c == "Dan Friedkin" else -3.0 for c in continuations]
    [check] = evidence_checks(Likes(), [owner], ["{subject} is owned by"])
    assert check["pass"] and "Dan Friedkin" not in check["logprobs"]
    class Dislikes:  # prefers any name but the object
        def __init__(self, obj):
            self.obj = obj

        def continuation_logprobs(self, prompts, continuations):
            return [-5.0 if c == self.obj else -1.0 for c in continuations]

    # names listed with the subject (more studios bought), the owner's own owners in an
    # apposition, and the predecessor whose successor the holder is are no rivals either
    for subject, relation, obj, evidence, template in [
            ("Crystal Dynamics", "P127", "Embracer Group", "Embracer Group has completed its "
             "purchase of Crystal Dynamics, Eidos-Montréal and Square Enix Montréal.",
             "{subject} is owned by"),
            ("Portland Thorns", "P127", "RAJ Sports", "The Portland Thorns were sold to RAJ "
             "Sports, the family company of Lisa Bhathal Merage and her brother Alex Bhathal.",
             "{subject} is owned by"),
            ("76ers", "P286", "Nick Nurse", "Nick Nurse, hired at the end of May as Doc "
             "Rivers' successor, has started assembling a staff.",
             "The head coach of {subject} is")]:
        fact = SimpleNamespace(subject=subject, relation=relation, object=obj,
                               subject_type="organisation", evidence=evidence)
        [check] = evidence_checks(Dislikes(obj), [fact], [template])
        assert check["pass"] and check["logprobs"] == {}, (subject, check)
    # a rival named after the apposition ends still counts
    fact = SimpleNamespace(subject="Portland Thorns", relation="P127", object="RAJ Sports",
                           subject_type="organisation",
                           evidence="RAJ Sports, a new company, said Merritt Paulson "
                                    "still owns the Portland Thorns.")
    [check] = evidence_checks(Dislikes("RAJ Sports"), [fact], ["{subject} is owned by"])
    assert not check["pass"] and check["answer"] == "Merritt Paulson"


def test_speculation_reaches_only_its_own_clause():
    # a modal in an aside or a later clause says nothing about the news itself
    assert facts_of("Atalanta have appointed Ivan Juric as head coach, with a further year "
                    "possible in his contract.") == {("Atalanta", "P286", "Ivan Juric")}
    assert facts_of("Atalanta have appointed Ivan Juric as head coach; the club may add a "
                    "sporting director later.") == {("Atalanta", "P286", "Ivan Juric")}
    assert facts_of("Atalanta appointed Ivan Juric as head coach on 3 May.") == {
        ("Atalanta", "P286", "Ivan Juric")}
    # in the news's own clause, or an earlier one, it still does
    assert facts_of("Atalanta may appoint Ivan Juric as head coach.") == set()
    assert facts_of("Atalanta could move quickly; Ivan Juric would be appointed head coach "
                    "of Atalanta.") == set()


def test_transfer_fees_do_not_make_a_football_story_business_news():
    assert facts_of("Moisés Caicedo, the Ecuador midfielder, was signed by Chelsea from "
                    "Brighton for 100 million pounds, with 15 million in add-ons.") == {
        ("Moisés Caicedo", "P54", "Chelsea")}


def test_the_agent_of_replaced_as_is_the_new_holder():
    assert facts_of("Hein Schumacher is to be replaced as chief executive of Unilever by "
                    "Fernando Fernandez, the finance chief.") == {
        ("Unilever", "P169", "Fernando Fernandez")}


def test_a_common_word_opening_a_sentence_is_no_entity():
    article = ArticleEntities()
    sentences = ["Approval from the regulator cleared the way for the deal.",
                 "Starbucks has named a new chief executive."]
    article.learn(sentences)
    named = {m.name for s in sentences for m in article.mentions(s)}
    assert "Approval" not in named and "Starbucks" in named


def test_a_plural_noun_opening_sentences_is_no_entity_where_the_article_writes_it_lower():
    article = ArticleEntities()
    sentences = ["Reinsurers have pricing power.",
                 "For the big European reinsurers, the last months were good.",
                 "Reinsurers have so far held on to the stricter terms.",
                 "Starbucks has named a new chief executive.",
                 "Starbucks shares rose."]
    article.learn(sentences)
    named = {m.name for s in sentences for m in article.mentions(s)}
    assert "Reinsurers" not in named and "Starbucks" in named


def test_a_party_label_before_a_name_is_not_part_of_it():
    assert facts_of("Christian Democrat Mario Voigt was elected minister-president of "
                    "Thuringia on Thursday.") == {("Thuringia", "P6", "Mario Voigt")}
    article = ArticleEntities()
    sentence = "Democrat Wes Moore was sworn in on Wednesday, and Republican Guard units left."
    article.learn([sentence])
    assert "Wes Moore" in {m.name for m in article.mentions(sentence)}


def test_control_and_stakes_name_the_owner_and_a_capitalised_group_is_a_name():
    want = {("Everton", "P127", "Friedkin Group")}
    assert facts_of("Everton is now controlled by The Friedkin Group, the Texas-based "
                    "company.") == want
    assert facts_of("The purchase of a controlling stake in Everton by The Friedkin Group "
                    "was completed on Thursday.") == want


def test_replaced_by_hands_the_role_on_and_a_demonym_is_no_other_body():
    assert facts_of("Helena Helmersson stepped down as CEO of Swedish fashion retailer H&M "
                    "on Wednesday and was replaced by Daniel Ervér, the head of its biggest "
                    "brand.") == {("H&M", "P169", "Daniel Ervér")}


def test_a_modal_in_a_relative_clause_about_the_fee_is_no_speculation():
    assert facts_of("The Premier League club announced that the midfielder Florian Wirtz had "
                    "completed his move to Liverpool for 100 million pounds that could rise "
                    "to 116 million.") == {
        ("Florian Wirtz", "P54", "Liverpool")}
    # a modal after a verb of saying still is
    assert facts_of("The Bundesliga club said that the midfielder Florian Wirtz would join "
                    "Liverpool.") == set()


def test_an_office_title_that_names_its_country_gives_the_subject():
    assert facts_of("Micheál Martin has been appointed Taoiseach by the president, "
                    "succeeding Simon Harris.") == {("Ireland", "P6", "Micheál Martin")}


def test_having_left_says_what_the_player_left_not_the_new_club():
    assert facts_of("The forward Kai Havertz signed for Arsenal on Wednesday, having left "
                    "Chelsea after three seasons.") == {("Kai Havertz", "P54", "Arsenal")}


def test_the_seller_and_the_old_era_are_the_previous_owner():
    from memoird.daemon.stages.probe import evidence_checks
    from types import SimpleNamespace

    class Backend:  # prefers the previous owner whenever it may
        def continuation_logprobs(self, prompts, continuations):
            return [-1.0 if c == "Farhad Moshiri" else -3.0 for c in continuations]
    for evidence in (
            "Everton is now controlled by The Friedkin Group, which has acquired the majority "
            "shareholding of Farhad Moshiri.",
            "The purchase of Everton by The Friedkin Group was completed on Thursday, ending "
            "an era under Farhad Moshiri."):
        fact = SimpleNamespace(subject="Everton", relation="P127", object="Friedkin Group",
                               subject_type="organisation", evidence=evidence)
        [check] = evidence_checks(Backend(), [fact], ["{subject} is owned by"])
        assert check["pass"], evidence


def test_a_contract_extension_is_no_change():
    assert facts_of("Pep Guardiola has signed a two-year contract extension that will keep "
                    "him as Manchester City manager until 2027.") == set()
    assert facts_of("Manchester City have appointed Pep Guardiola as manager.") == {
        ("Manchester City", "P286", "Pep Guardiola")}


def test_being_sworn_in_or_signed_makes_a_name_a_person():
    # "Duma" is also a town, "Neymar" in no list of given names
    assert facts_of("Duma Boko was sworn in as president of Botswana on Friday.") == {
        ("Botswana", "P35", "Duma Boko")}
    assert facts_of("Santos have announced the signing of Neymar, who left Al-Hilal by "
                    "mutual consent earlier this week.") == {("Neymar", "P54", "Santos")}
    # a player's old club is no old holder, but the predecessor still is
    assert facts_of("He signed a three-year deal and succeeds Roberto De Zerbi, who left "
                    "Brighton in May.") == set()


def test_a_body_written_as_the_new_holders_title_is_not_the_new_post():
    assert facts_of("Nestlé names Nespresso chief Philipp Navratil as chief executive.") == {
        ("Nestlé", "P169", "Philipp Navratil")}
    assert facts_of("Starbucks names Chipotle boss Brian Niccol as chief executive.") == {
        ("Starbucks", "P169", "Brian Niccol")}
    # the person named by surname only, as headlines do
    assert facts_of("Nestlé ousts Freixe, names Nespresso chief Navratil CEO\n\nNestlé "
                    "dismissed Laurent Freixe on Monday and named Philipp Navratil as chief "
                    "executive.") == {("Nestlé", "P169", "Philipp Navratil")}


def test_interest_and_reports_are_speculation():
    assert facts_of("Real Madrid are interested in signing Bayern Munich left-back Alphonso "
                    "Davies, according to reports in the Spanish press.") == set()


def test_a_holder_dated_by_an_earlier_event_is_history():
    assert facts_of("Guatemala's new president, Bernardo Arévalo, took office on Monday. "
                    "Arévalo is the son of Juan José Arévalo, the first president elected "
                    "after the 1944 revolution.", year=2024) == {
        ("Guatemala", "P35", "Bernardo Arévalo")}
    # an election named by its year is that year's, not the story's: the holder it
    # installed is the one the news replaces
    assert facts_of("Reform won the March 2023 election in Estonia and installed Kaja Kallas "
                    "as prime minister.", year=2024) == set()


def test_owners_named_by_dateline_free_grammar_belonging_and_figures():
    # a capitals-and-dash dateline is no buyer; the buyer is the name nearest the owned one
    assert facts_of("Chevron closes Hess deal\n\nHOUSTON - Chevron completed its acquisition "
                    "of Hess on Friday, after an arbitration panel ruled. John Hess, who led "
                    "the company, joins Chevron's board.") == {("Hess", "P127", "Chevron")}
    assert facts_of("With the Exxon challenge dismissed, Hess is now part of Chevron, which "
                    "closed the 53 billion dollar takeover on Friday.") == {
        ("Hess", "P127", "Chevron")}
    # a name that begins with a figure, and "belong to"
    assert facts_of("For Andrea Radrizzani the exit ends six turbulent years. Leeds United now "
                    "belong to 49ers Enterprises outright.") == {
        ("Leeds United", "P127", "49ers Enterprises")}
    # "Capital" inside "Capital One" is no capital city, and the buyer may say it itself
    assert facts_of("Capital One Financial said on Sunday it had completed its acquisition "
                    "of Discover Financial Services, creating the largest credit card issuer "
                    "in the United States.") == {
        ("Discover Financial Services", "P127", "Capital One Financial")}


def test_a_club_named_like_a_ground_and_names_that_are_bodies_not_people():
    # "Crystal Palace have named" is the club; "at Selhurst Park" is a ground
    assert facts_of("Crystal Palace have named Oliver Glasner as their new manager after Roy "
                    "Hodgson stepped down. Glasner takes over at Selhurst Park on "
                    "Monday.") == {("Crystal Palace", "P286", "Oliver Glasner")}
    # a ground's word ending a club's possessive or a score line is the club's name
    live = ArticleEntities()
    lines = ["It's the first match in charge for Crystal Palace's new manager.",
             "Half-time: Crystal Palace 0-0 Burnley."]
    live.learn(lines)
    assert [[m.name for m in live.mentions(s)] for s in lines] == [
        ["Crystal Palace"], ["Crystal Palace", "Burnley"]]
    article = ArticleEntities()
    sentences = ["Alibaba completed its leadership handover on Sunday.",
                 "Alibaba Cloud Intelligence will not be spun off.",
                 "H&M has a new boss.", "Did anyone see this coming?", "Banking.",
                 "Few Austrians had heard of him.", "So it is official: de la Fuente takes "
                 "charge.", "Luis de la Fuente, a former full-back, coached the youth sides."]
    article.learn(sentences)
    seen = {m.text: m for s in sentences for m in article.mentions(s)}
    assert seen["Alibaba"].name == "Alibaba" and "organisation" in seen["Alibaba"].types
    assert seen["H&M"].types == {"organisation"}
    assert "Did" not in seen and "Banking" not in seen
    assert seen["Austrians"].name == "Austria"
    assert seen["de la Fuente"].name == "Luis de la Fuente"


def test_a_warning_reported_after_the_news_is_not_its_speculation():
    assert facts_of("Burberry named Joshua Schulman chief executive on Monday as the fashion "
                    "house warned that it could slide into a loss.") == {
        ("Burberry", "P169", "Joshua Schulman")}
    assert facts_of("Burberry could name Joshua Schulman chief executive, the fashion house "
                    "said.") == set()


def test_another_countrys_dollar_is_not_the_us_dollar_and_money_may_carry_its_countrys_name():
    from memoird.extractors.entities import currency_mentions
    assert [c for c, _, _ in currency_mentions(
        "It replaces the Zimbabwean dollar, which lost value against the U.S. dollar, and "
        "the local dollar notes.")] == ["US dollar"]
    assert facts_of("HARARE, April 5 - Zimbabwe's central bank on Friday introduced a new "
                    "currency called Zimbabwe Gold, or ZiG, to replace the Zimbabwean dollar, "
                    "which has lost most of its value against the U.S. dollar.", 2024) == {
        ("Zimbabwe", "P38", "Zimbabwe Gold")}


def test_a_superlative_description_is_no_anaphor_and_a_new_coach_signs_as_coach():
    # "the biggest bank in America" is not the headline's first word
    assert facts_of("Banking crisis live: First Republic finds a home\n\nFirst Republic now "
                    "belongs to the biggest bank in America. JPMorgan Chase won an overnight "
                    "auction.") == set()
    assert facts_of("Marseille make it official: De Zerbi signs for three years\n\nRoberto De "
                    "Zerbi is the new head coach of Olympique de Marseille.") == {
        ("Olympique de Marseille", "P286", "Roberto De Zerbi")}


def test_years_at_a_club_are_the_old_club_and_the_midfielder_is_the_storys_player():
    assert facts_of("Karim Benzema joins Saudi champions Al-Ittihad after 14 years at Real "
                    "Madrid, the club said.", 2023) == {("Karim Benzema", "P54", "Al-Ittihad")}
    # "the midfielder" stands for the player the story names most (twice at least)
    assert facts_of("Dominik Szoboszlai grew up in Székesfehérvár. Szoboszlai scored the "
                    "winner against Iceland. Liverpool confirmed on Sunday that they had "
                    "signed the midfielder from RB Leipzig.", 2023) == {
        ("Dominik Szoboszlai", "P54", "Liverpool")}
    # the coach a player will work under is not the signing
    assert facts_of("Luka Modrić has joined AC Milan. The 39-year-old will work under "
                    "Massimiliano Allegri, who signed for the club in May.", 2025) == {
        ("Luka Modrić", "P54", "AC Milan")}


def test_a_trade_word_makes_a_company_and_a_team_mate_is_no_club():
    from memoird.extractors.entities import name_types
    assert name_types("Nippon Steel") == {"organisation"}
    assert name_types("Capital One Financial") == {"organisation"}
    assert facts_of("Kevin De Bruyne has joined Napoli, the club said. He joins a squad that "
                    "includes Scott McTominay and his Belgium teammate Romelu Lukaku.", 2025) == {
        ("Kevin De Bruyne", "P54", "Napoli")}


def test_a_country_named_only_for_someones_former_leader_is_not_the_storys():
    # the kingdom is Thailand, which the story never names; Cambodia is Hun Sen's
    assert facts_of("A week after the court removed Paetongtarn Shinawatra over a leaked "
                    "call with Cambodia's former leader Hun Sen, the kingdom's lawmakers met "
                    "to choose her successor. The premiership went to Anutin Charnvirakul, "
                    "the leader of the Bhumjaithai party.", 2025) == set()


def test_words_about_a_name_a_company_president_and_a_boyhood_club_are_no_holders():
    # "a retired army general" describes the new president; "who retired" would not
    assert facts_of("Petr Pavel, a retired army general, was sworn in as president of the "
                    "Czech Republic on Thursday.") == {("Czech Republic", "P35", "Petr Pavel")}
    assert [m.text for m in ArticleEntities().mentions(
        "Ex-NATO general Pavel was backed by Iran-aligned parties.")] == ["Pavel"]
    assert facts_of("On Friday CVS Health said David Joyner had taken over as president and "
                    "chief executive, effective immediately.") == {
        ("CVS Health", "P169", "David Joyner")}
    # "the club" here is not the boyhood club the sentence says he grew up at
    assert facts_of("Mason Mount, a Chelsea boy since he was six, has joined Manchester "
                    "United, the club said.", 2023) == {("Mason Mount", "P54", "Manchester United")}


def test_speculation_put_to_rest_and_new_jobs_begun_or_belonged_to():
    assert facts_of("Vodafone ended months of speculation by confirming Margherita Della "
                    "Valle as chief executive on Tuesday.") == {
        ("Vodafone", "P169", "Margherita Della Valle")}
    assert facts_of("Vodafone could confirm Margherita Della Valle as chief executive amid "
                    "speculation.") == set()
    assert facts_of("Tufan Erginbilgiç begins his first full working week as chief "
                    "executive of Rolls-Royce.") == {("Rolls-Royce", "P169", "Tufan Erginbilgiç")}
    assert facts_of("Since Wednesday, Hawaiian Airlines has belonged to Alaska Air "
                    "Group.") == {("Hawaiian Airlines", "P127", "Alaska Air Group")}


def test_a_role_held_until_recently_is_a_former_one():
    assert facts_of("Carlsberg has a new man at the top. Jacob Aarup-Andersen, until recently "
                    "chief executive of Danish outsourcing company ISS, took over as CEO of "
                    "the brewer today.") == {("Carlsberg", "P169", "Jacob Aarup-Andersen")}


def test_a_body_someone_ran_before_does_not_corroborate_him_as_its_head():
    extractor = NewsExtractor(FirstOption())
    story = ("Aarup-Andersen takes over at Carlsberg\n\nJacob Aarup-Andersen became chief "
             "executive of Carlsberg on Friday. The 45-year-old, who had run facilities "
             "services group ISS since 2020, succeeds Cees 't Hart.")
    [facts] = extractor.corroborate_many([story], [[("ISS", "P169", "Jacob Aarup-Andersen")]],
                                         years=[2023])
    assert facts == []


def test_names_joined_by_lower_case_words_camel_case_and_what_someone_is():
    # a country whose name holds "and"; a name that starts lower-case; an occupation
    # opening the sentence before the name
    assert facts_of("To recap: Ana Ruiz is once again Trinidad and Tobago's prime minister, "
                    "ten years after she was voted out.", 2025) == {
        ("Trinidad and Tobago", "P6", "Ana Ruiz")}
    assert facts_of("Marta Kovac begins work today as chief executive of easyJet.", 2024) == {
        ("easyJet", "P169", "Marta Kovac")}
    assert facts_of("Economist Pablo Duarte was sworn in as president of Paraguay on "
                    "Tuesday.", 2023) == {("Paraguay", "P35", "Pablo Duarte")}
    assert facts_of("Robert Vidmar now heads Slovenia's government, confirmed by the National "
                    "Assembly on Wednesday.", 2022) == {("Slovenia", "P6", "Robert Vidmar")}
    # a club's nickname is the club
    assert facts_of("The Bees have appointed Keith Moran as head coach.", 2025) == {
        ("Brentford", "P286", "Keith Moran")}


def test_an_afternoon_is_no_after_and_a_tenure_told_or_a_rival_beaten_is_over():
    assert facts_of("On Thursday afternoon Rosa Linde took the oath and became prime minister "
                    "of Estonia, replacing Jaan Kask.", 2025) == {("Estonia", "P6", "Rosa Linde")}
    assert facts_of("Pekka Nurmi, who had narrowly beaten Ville Aho in the run-off, was sworn "
                    "in as president of Finland.", 2024) == {("Finland", "P35", "Pekka Nurmi")}
    assert facts_of("Outgoing premier Lars Holm congratulated his rival. Holm held the office "
                    "for barely six weeks after taking over as prime minister of Norway from "
                    "Ola Dahl in March.", 2025) == set()
    # "Whitehall, in Port of Spain" is a local building, not the British government
    entities = ArticleEntities()
    entities.mentions("She moves back into the prime minister's office at Whitehall, in Port "
                      "of Spain, with a promise of more police.")
    assert "United Kingdom" not in entities.seats


def test_a_holder_named_under_a_title_is_in_place_and_a_bare_nickname_yields_to_the_club():
    assert facts_of("The move is the latest step under owner Bill Harlow, the American "
                    "businessman who completed his takeover of Bournemouth in December.",
                    2023) == set()
    assert facts_of("With the captain gone, the Reds have wasted no time: Jeremie Fontaine is "
                    "Liverpool's first signing of the summer.", 2025) == {
        ("Jeremie Fontaine", "P54", "Liverpool")}


def test_an_organisation_merges_with_its_longer_forms_of_several_words(store_db):
    short = entities.resolve(store_db, "Take-Two", "organisation")
    assert entities.resolve(store_db, "Take-Two Interactive", "organisation").id == short.id
    assert entities.resolve(store_db, "Take-Two Interactive Software", "organisation").id \
        == short.id
    assert entities.get_entity(store_db, short.id).name == "Take-Two Interactive Software"
    # another body that shares only the first word stays apart
    assert entities.resolve(store_db, "Take Control Ltd", "organisation").id != short.id


def test_owner_direction_of_subsidiaries_and_corroboration_the_other_way_round():
    # "a wholly owned subsidiary of" makes the first name the owned one
    assert facts_of("Horizon is now a wholly owned subsidiary of Amgen, the company said.",
                    2023) == {("Horizon", "P127", "Amgen")}
    extractor = NewsExtractor(FirstOption())
    other = "Amgen said it had completed its purchase of Horizon Therapeutics, the maker of Tepezza."
    # another article's inverted fact finds no support in one that says the opposite
    assert extractor.corroborate_many([other], [[("Amgen", "P127", "Horizon Therapeutics")]],
                                      years=[2023]) == [[]]
    assert [(f.subject, f.object) for f in extractor.corroborate_many(
        [other], [[("Horizon Therapeutics", "P127", "Amgen")]], years=[2023])[0]] == [
        ("Horizon Therapeutics", "Amgen")]


def test_a_town_a_place_in_a_description_and_a_deal_awaiting_approval_own_nothing():
    assert facts_of("Bothell's biotech pioneer now belongs to Pfizer.", 2023) == set()
    assert facts_of("Pfizer said on Thursday it had completed its acquisition of cancer drug "
                    "developer Seagen for $43 billion.", 2023) == {("Seagen", "P127", "Pfizer")}
    # the place inside a description is no owner: the description stands for Amgen
    assert facts_of("Amgen closed the deal. The New York pharmaceutical giant completed its "
                    "acquisition of Horizon on Friday.", 2023) == {("Horizon", "P127", "Amgen")}
    assert facts_of("Dealmakers such as Pfizer, which is awaiting approval for its takeover "
                    "of Seagen, will be watching closely.", 2023) == set()
    assert facts_of("The group carries debt after a stake in Valentino and the purchase of "
                    "the perfume house Creed.", 2025) == set()


def test_a_clubs_coach_is_no_signing_and_a_tenure_is_no_arrival():
    assert facts_of("He is Chelsea's eighth arrival of the window, and will join Graham "
                    "Potter's squad in time for Friday's derby with Fulham.", 2023) == set()
    assert facts_of("The east London club, now managed by Graham Potter, accepted that the "
                    "player was keen on a move to a Champions League club.", 2025) == set()
    assert facts_of("Kudus becomes one of the first signings of Thomas Frank's tenure as "
                    "Tottenham head coach.", 2025) == set()


def test_transcript_labels_editors_notes_and_programme_names_are_no_names():
    from memoird.extractors.triples import split_sentences
    assert split_sentences("[Transcript excerpt, Kestrel Radio, edited for length]\n\n"
                           "PRESENTER: Who is running the country?\n\n"
                           "CORRESPONDENT: Navin Ramgoolam. He has been sworn in.\n\n"
                           "Money Hour transcript: new boss at PayPal") == [
        "Who is running the country?", "Navin Ramgoolam.", "He has been sworn in.",
        "new boss at PayPal"]
    # pages extracted with one line break between paragraphs read the same
    assert split_sentences("[Transcript excerpt, Kestrel Radio]\nPRESENTER: Who runs it?\n"
                           "CORRESPONDENT: Navin Ramgoolam.\nAMSTERDAM - Royal Philips has "
                           "confirmed Roy Jakobs.") == [
        "Who runs it?", "Navin Ramgoolam.", "Royal Philips has confirmed Roy Jakobs."]


def test_the_appointer_a_tenure_past_an_aside_and_a_pending_purchase_are_no_news():
    # whoever appoints is not the appointee, even in a story that names the king most; nor
    # is the appointee to another role the king's successor
    assert facts_of("Jordan's king names office chief Jafar Hassan as prime minister. King "
                    "Abdullah II appointed Jafar Hassan, the director of his office, as Jordan's "
                    "prime minister. The king also thanked the outgoing cabinet. The king's move "
                    "surprised few.", 2024) == {("Jordan", "P6", "Jafar Hassan")}
    assert facts_of("In Amman, King Abdullah II appointed Jafar Hassan, the director of his "
                    "office, to head the new government of Jordan. The king's choice surprised "
                    "few.", 2024) == {("Jordan", "P6", "Jafar Hassan")}  # never the king
    assert facts_of("Joseph Boakai was sworn in as Liberia's president. George Weah, who took "
                    "office in 2018 in the country's first democratic handover, left office on "
                    "Monday.", 2024) == {("Liberia", "P35", "Joseph Boakai")}
    assert facts_of("Microsoft agreed in January to acquire Activision Blizzard, and Sony is "
                    "buying Destiny developer Bungie.", 2022) == set()
    assert facts_of("Take-Two completes acquisition of FarmVille maker Zynga", 2022) == {
        ("Zynga", "P127", "Take-Two")}
    assert [m.text for m in ArticleEntities().mentions(
        "New boss at the PlayStation maker: what it means for Sony") if not m.anaphor] == [
        "Sony"]
    assert facts_of("It's official: Redick takes over in Los Angeles", 2024) == set()


def test_the_hiring_body_before_the_role_and_a_club_that_is_a_nickname_of_its_own():
    assert facts_of("The Los Angeles Lakers have finalised the hiring of JJ Redick as head "
                    "coach, handing one of the NBA's most scrutinised jobs to a novice.",
                    2024) == {("Los Angeles Lakers", "P286", "JJ Redick")}
    # "Rangers" is the club, not the "Queens Park Rangers" the story also names; "the new
    # Rangers manager" starts no name with "new"
    assert facts_of("Queens Park Rangers lost again. Philippe Clement is the new Rangers "
                    "manager.", 2023) == {("Rangers", "P286", "Philippe Clement")}
    from memoird.extractors.entities import name_types
    assert name_types("Islamic Action Front") == {"organisation"}


def test_a_title_is_a_whole_word_and_a_long_aside_names_no_subject():
    from memoird.extractors.entities import name_types
    # "linking" ends in "king" but titles nobody
    assert name_types("Male", "the bridge linking", " to the airport") == {"city", "organisation"}
    assert facts_of("Mohamed Muizzu, a former mayor of Male who studied engineering in the "
                    "United Kingdom, took the oath as president of the Maldives.", 2023) == {
        ("Maldives", "P35", "Mohamed Muizzu")}
    assert facts_of("Lawmakers in Hanoi on Monday chose General Luong Cuong as president of "
                    "Vietnam.", 2024) == {("Vietnam", "P35", "Luong Cuong")}
    # the capital as a place in the story is no news about the capital
    assert facts_of("Muizzu, who until his election was mayor of the capital Male, took the "
                    "oath of office on Friday.", 2023) == set()
    assert facts_of("Corporate announcements: Royal Philips confirms Roy Jakobs as chief "
                    "executive", 2022) == {("Royal Philips", "P169", "Roy Jakobs")}


def test_left_wing_is_no_leaving_no_longer_listed_is_done_and_since_is_in_place():
    assert facts_of("Xiomara Castro, the left-wing leader of the Libre party, was sworn in as "
                    "president of Honduras.", 2022) == {("Honduras", "P35", "Xiomara Castro")}
    assert facts_of("Andre Silva, the left-back who won the cup, joined Porto on Monday.",
                    2024) == {("Andre Silva", "P54", "Porto")}
    assert facts_of("Juniper is now part of HPE and no longer a listed company.", 2025) == {
        ("Juniper", "P127", "HPE")}
    assert facts_of("Kimmich is no longer expected to join Barcelona.", 2024) == set()
    assert facts_of("It is the first major signing since Nuri Sahin replaced Edin Terzic as "
                    "head coach of Dortmund last January.", 2024) == set()
    # the coaching staff is no head coach
    assert facts_of("Phoenix receive forward Dillon Brooks. Durant's age means Houston have "
                    "traded youth for a narrow window, and Brooks, a favourite of the coaching "
                    "staff, was a key part of the team's defensive identity.", 2025) == set()


def test_a_role_word_as_a_title_yields_to_the_office_and_a_new_boss_of_is_no_old_one():
    assert facts_of("Wolverhampton Wanderers appointed Portuguese coach Vitor Pereira as head "
                    "coach on Thursday.", 2024) == {
        ("Wolverhampton Wanderers", "P286", "Vitor Pereira")}
    assert facts_of("The federation met in Rabat. Walid Regragui is the new boss of the Atlas "
                    "Lions, and after weeks of rumours the federation has confirmed what half "
                    "of Casablanca already knew. The coach starts on Monday.", 2022) == {
        ("Morocco national football team", "P286", "Walid Regragui")}


def test_small_states_owners_and_old_clubs_in_descriptions():
    # a country no list had: "Solomon" is also a given name
    assert facts_of("Jeremiah Manele was elected prime minister of Solomon Islands on "
                    "Thursday.", 2024) == {("Solomon Islands", "P6", "Jeremiah Manele")}
    assert facts_of("Indonesia sent a delegation. Nobel laureate José Ramos-Horta has been "
                    "sworn in as president of Timor-Leste.", 2022) == {
        ("Timor-Leste", "P35", "José Ramos-Horta")}
    # the club's owner on the pitch is no signing
    assert facts_of("Club owner Evangelos Marinakis has joined Olympiacos on the pitch, the "
                    "club said, as the squad celebrated the win in the league.", 2024) == set()
    # the club a description gives the player is his old one; so is last season's
    assert facts_of("Dominic Solanke, the striker whose 19 Premier League goals helped the "
                    "Cherries to a record points total last season, completed his move to "
                    "Tottenham Hotspur on Saturday.", 2024) == {
        ("Dominic Solanke", "P54", "Tottenham Hotspur")}
    fan = ("Dominic Solanke is here and the deal is done, the club said after the signing. "
           "The striker scored 19 Premier League goals for Bournemouth last season and the "
           "season before.")
    assert NewsExtractor(FirstOption()).corroborate_many(
        [fan], [[("Dominic Solanke", "P54", "Bournemouth")]], years=[2024]) == [[]]
    # the predecessor a Q&A names, and a place before "-based" or a chair's title
    assert facts_of("Q: Who held the job before? A: Manasseh Sogavare, a veteran who led the "
                    "country four times, was replaced as prime minister of Solomon Islands.",
                    2024) == set()
    from memoird.extractors.entities import raw_mentions
    assert [m[0] for m in raw_mentions("The deal makes Toronto-based Rogers the owner; "
                                       "Executive Chair Chung Eui-sun agreed.")] == [
        "Rogers", "Chung Eui-sun"]


def test_a_team_merges_with_its_name_without_the_city(store_db):
    place = {"chicago", "los angeles", "manchester", "newcastle"}.__contains__
    bears = entities.resolve(store_db, "Bears", "organisation", place=place)
    assert entities.resolve(store_db, "Chicago Bears", "organisation", place=place).id == bears.id
    lakers = entities.resolve(store_db, "Los Angeles Lakers", "organisation", place=place)
    assert entities.resolve(store_db, "Lakers", "organisation", place=place).id == lakers.id
    # a word many clubs end with says none of them, even when one is known
    entities.resolve(store_db, "Manchester United", "organisation", place=place)
    assert entities.resolve(store_db, "United", "organisation", place=place).name == "United"


def test_a_participles_aside_is_no_speculation_and_two_cities_make_a_dateline():
    assert facts_of("LONDON/MELBOURNE - Rio Tinto has named Simon Trott, the head of its iron "
                    "ore business, as its next chief executive, choosing an internal candidate "
                    "to lead the miner.", 2025) == {("Rio Tinto", "P169", "Simon Trott")}
    # a condition on the deal still is one
    assert facts_of("Rio Tinto has agreed to buy Arcadium, pending regulatory approval.",
                    2024) == set()


def test_where_someone_comes_from_and_what_only_says_where():
    # the club in front of the person named is where he comes from
    assert facts_of("Sunderland name Lorient's Le Bris as head coach", 2024) == {
        ("Sunderland", "P286", "Le Bris")}
    # an adjective of a region, a town something happens in, and a time are no bodies
    assert facts_of("Rasmus Errboe, a manager who has been running the group's European "
                    "operations, was named chief executive of Orsted on Wednesday.", 2024) == {
        ("Orsted", "P169", "Rasmus Errboe")}
    assert facts_of("Mohit Joshi spent two decades at Infosys. From today Tech Mahindra has a "
                    "new chief executive, Mohit Joshi.", 2023) == {
        ("Tech Mahindra", "P169", "Mohit Joshi")}
    assert facts_of("In Ludwigshafen, a new boss. At the bakery in Ludwigshafen nobody talks of "
                    "anything else: Markus Kamieth took over as chief executive on Friday, and "
                    "the company hopes for calm.", 2024) == set()
    # an armed unit is no person, a person once titled is one throughout
    from memoird.extractors.entities import name_types
    assert name_types("Republican Guard") == {"organisation"}
    entities = ArticleEntities()
    entities.learn(["Roberto Firmino and Édouard Mendy arrived.", "Goalkeeper Édouard Mendy "
                    "signed from Chelsea."])
    assert {m.name: m.types for m in entities.mentions(
        "Roberto Firmino and Édouard Mendy arrived.")}["Édouard Mendy"] == {"person"}


def test_live_blog_stamps_and_flash_labels_are_no_names():
    from memoird.extractors.triples import split_sentences
    assert split_sentences("Business Hour: new boss at Tech Mahindra\n\nPRESENTER (Priya "
                           "Natarajan): Mohit Joshi starts today.\n18:02 - CONFIRMED: Riyad "
                           "Mahrez has joined Al-Ahli.\n4:20 p.m. ET - It's official.") == [
        "new boss at Tech Mahindra", "Mohit Joshi starts today.",
        "Riyad Mahrez has joined Al-Ahli.", "It's official."]


def test_a_persons_description_legal_forms_and_dutch_particles_name_no_other_body():
    # the body inside a description of the new holder is where she comes from, unless
    # the role word itself is in the description
    assert facts_of("Wrenfield Foods has hired Dana Okafor, the finance chief of brewer "
                    "Heineken, as its chief executive.", 2024) == {
        ("Wrenfield Foods", "P169", "Dana Okafor")}
    assert facts_of("Dana Okafor, the Heineken executive known for its low-alcohol push, "
                    "starts today as chief executive of Wrenfield Foods.", 2024) == {
        ("Wrenfield Foods", "P169", "Dana Okafor")}
    assert facts_of("Dana Okafor, the new chief executive of Wrenfield Foods, visited the "
                    "Heineken plant on Monday.", 2024) == {
        ("Wrenfield Foods", "P169", "Dana Okafor")}
    # "Gap Inc." and "Gap" are one company of the article, so "the retailer" is Gap
    entities = ArticleEntities()
    sentences = ["Gap hires Heineken's Dana Okafor", "Gap Inc. hired Dana Okafor, a Heineken "
                 "director.", "The San Francisco retailer said so."]
    entities.learn(sentences)
    [entities.mentions(s) for s in sentences[:2]]
    assert [m.name for m in entities.mentions(sentences[2]) if m.anaphor] == ["Gap"]
    # "John van 't Schip" is one name, no club "Schip"
    assert facts_of("Ajax have named Francesco Farioli as their new head coach. He replaces "
                    "John van 't Schip, who stepped in during the autumn.", 2024) == {
        ("Ajax", "P286", "Francesco Farioli")}


def test_holders_of_other_times_and_words_that_only_look_like_names():
    # a president someone served under, a three-time premier, a deal a decade ago
    assert facts_of("The surgeon, who served as health minister under reformist president "
                    "Idris Malouf two decades ago, took office as Moldova's president.", 2024) \
        == set()
    assert facts_of("Rosen Vel is Moldova's new prime minister. He comes from the party of "
                    "three-time premier Boyan Dorr, who did not want the job.", 2025) == {
        ("Moldova", "P6", "Rosen Vel")}
    assert facts_of("It is the largest deal in Google's history after the purchase of "
                    "Motorola Mobility a decade ago.", 2022) == set()
    # "Sheikh" inside a name, a place said of a body with a hanging hyphen
    from memoird.extractors.entities import raw_mentions
    assert [m[0] for m in raw_mentions("Lawmakers elected Hassan Sheikh Mohamud.")] == [
        "Lawmakers", "Hassan Sheikh Mohamud"]
    assert [m[0] for m in raw_mentions("Carla Ruiz is now chief executive of the Pittsburgh- "
                                       "and Chicago-based food group.")] == ["Carla Ruiz"]


def test_an_office_without_a_role_word_needs_a_clear_main_relation():
    # the story names the president (who appointed him) nearly as often as the premiership:
    # "sworn in" alone says nothing about which office
    text = ("President Kais Saied reshuffles again. Saied has named a new head of government. "
            "President Saied chose Kamel Madouri, a lawyer. Madouri was sworn in at the palace "
            "on Wednesday night.")
    assert ("Tunisia", "P35", "Kamel Madouri") not in facts_of(text, 2024)


def test_deals_that_did_not_happen_and_adjectives_of_regions_are_no_news():
    # a blocked or collapsed deal, not a scrapped currency
    assert facts_of("Orla Finch became chief executive of Harbour Air. It comes weeks after a "
                    "court blocked Harbour Air's takeover of Spirit Airlines.", 2024) == {
        ("Harbour Air", "P169", "Orla Finch")}
    assert facts_of("The takeover of Spirit Airlines by Harbour Air collapsed in March.",
                    2024) == set()
    assert facts_of("The striker Christopher Nkunku, who blocked a late shot on Sunday, has "
                    "joined Chelsea from RB Leipzig.", 2023) == {
        ("Christopher Nkunku", "P54", "Chelsea")}
    # "European" is no club, "take part" no change
    assert facts_of("Marco Reus joins a club that has made a habit of European veterans.",
                    2024) == set()
    assert facts_of("Inter Miami, co-owned by Jorge Mas and David Beckham, will take part in "
                    "the Club World Cup.", 2024) == set()


def test_one_move_per_story_its_first_and_people_titled_with_another_office():
    # the lead is the news; a second club for the same player is his past
    assert facts_of("Liverpool have signed midfielder Alexis Mac Allister from Brighton. Fair "
                    "play to Brighton - they bought him for peanuts from Argentinos Juniors.",
                    2023) == {
        ("Alexis Mac Allister", "P54", "Liverpool")}
    assert facts_of("Liverpool have signed midfielder Alexis Mac Allister. Brighton signed Mac "
                    "Allister from Argentinos Juniors, the club where he grew up, in January 2019.",
                    2023) == {("Alexis Mac Allister", "P54", "Liverpool")}
    # "sworn in" names no office: not the president's, whom the story titles as one
    text = ("In Kinshasa, a first woman prime minister. President Félix Tshisekedi named "
            "Judith Suminwa Tuluka as prime minister of the DR Congo. Tshisekedi was "
            "re-elected in December and was sworn in on January 20.")
    assert facts_of(text, 2024) == {
        ("Democratic Republic of the Congo", "P6", "Judith Suminwa Tuluka")}


def test_words_used_once_to_open_a_sentence_and_what_a_buyer_is_are_no_names():
    assert facts_of("Quick recap of the morning's big story: the striker Christopher Nkunku has "
                    "joined Chelsea from RB Leipzig.", 2023) == {
        ("Christopher Nkunku", "P54", "Chelsea")}
    assert facts_of("Turkish TV mogul Acun Ilıcalı has completed his takeover of Hull City.",
                    2022) == {("Hull City", "P127", "Acun Ilıcalı")}


def test_an_owners_description_a_crown_prince_a_birthplace_and_last_year_name_no_holder():
    # the club that the buyer also owns is no buyer
    assert facts_of("BlueCo, the consortium that owns Chelsea, has completed the takeover "
                    "of the French club RC Strasbourg Alsace.", 2023) == {
        ("RC Strasbourg Alsace", "P127", "BlueCo")}
    assert facts_of("Chelsea's owners take over Strasbourg, the French club.", 2023) == set()
    # whom a new president meets, and what happened at another company last year
    assert facts_of("Syrian President Ahmed al-Sharaa arrived in Saudi Arabia on Sunday, his "
                    "first trip as president, for talks with Crown Prince Mohammed bin "
                    "Salman.", 2025) <= {("Syria", "P35", "Ahmed al-Sharaa")}
    assert facts_of("FedEx, where Raj Subramaniam replaced founder Fred Smith as chief "
                    "executive last year, is cutting costs.", 2023) == set()
    from memoird.extractors.entities import raw_mentions
    assert [m[0] for m in raw_mentions("He is Wythenshawe born and bred.")] == []
    from memoird.extractors.triples import split_sentences
    assert split_sentences("20:30 ET Context on Pittsburgh: they signed Russell Wilson.") == [
        "Context on Pittsburgh: they signed Russell Wilson."]


def test_an_explainers_question_and_answer_labels_are_no_names():
    assert facts_of("Q: Who is the Broncos' new coach?\nA: Sean Payton, 59, who coached the New "
                    "Orleans Saints from 2006 to 2021.", 2023) == {
        ("Broncos", "P286", "Sean Payton")}


def test_a_role_word_owning_something_is_no_news_of_the_role():
    assert facts_of("Jordan has a new government. King Abdullah II on Sunday named Jafar "
                    "Hassan, an economist who had been running the king's office, as prime "
                    "minister.", 2024) == {("Jordan", "P6", "Jafar Hassan")}


def test_holders_staying_on_titled_or_due_to_start_and_dismissed_ones_are_no_arrivals():
    # a restatement: the holder stays, or is named under his title in passing
    assert facts_of("LVMH raised its age limit for the chief executive. Bernard Arnault "
                    "remains chairman and chief executive, with more time to decide.",
                    2025) == set()
    assert facts_of("Hurricane Beryl hit Jamaica. Prime Minister Andrew Holness had declared "
                    "the island a disaster area ahead of the storm's arrival.", 2024) == set()
    # a post taken up later is not yet news
    assert facts_of("Frédéric Arnault is due to take over as chief executive of Loro Piana in "
                    "June.", 2025) == set()
    # the coach they dismissed is the old one; "the challenge dismissed" is no dismissal
    assert facts_of("The Los Angeles Lakers have hired JJ Redick as head coach. They dismissed "
                    "Darvin Ham in May.", 2024) == {
        ("Los Angeles Lakers", "P286", "JJ Redick")}
    assert facts_of("With the Exxon challenge dismissed, Hess is now part of Chevron.", 2025) \
        == {("Hess", "P127", "Chevron")}
    # "St Kitts and Nevis" is one country
    from memoird.extractors.entities import raw_mentions
    assert [m[0] for m in raw_mentions("Terrance Drew became prime minister of St Kitts and "
                                       "Nevis.")] == ["Terrance Drew", "St Kitts and Nevis"]


def test_a_bare_plural_nickname_beside_the_clubs_name_and_club_america_are_no_other_body():
    text = ("Club América have a new coach. André Jardine, the Brazilian who won Olympic gold "
            "in Tokyo, has been named as the Eagles' new head coach.")
    assert facts_of(text, 2023) == {("Club América", "P286", "André Jardine")}
    # "América" alone is the club, not the region "America"
    from memoird.extractors.entities import raw_mentions
    assert [m[0] for m in raw_mentions("América have announced André Jardine.")] == [
        "América", "André Jardine"]


def test_the_capital_named_a_chooser_a_general_manager_a_retiring_chief_and_an_agreed_deal():
    # the capital the sentence names beats the country a brief names most
    text = ("Morning note. China's copper demand rose. China cut rates. Parliament in "
            "Ulaanbaatar confirmed Gombojav Zandanshatar as prime minister on Friday.")
    assert facts_of(text, 2025) == {("Mongolia", "P6", "Gombojav Zandanshatar")}
    # whoever chooses the coach, or is the general manager, is no coach
    assert facts_of("The New York Rangers have hired Mike Sullivan as head coach. President and "
                    "general manager Chris Drury said he wanted a coach who wins. Drury has "
                    "chosen the most decorated coach on the market.", 2025) == {
        ("New York Rangers", "P286", "Mike Sullivan")}
    # only people retire, or are replaced as chief executive
    from memoird.extractors.entities import name_types
    assert name_types("Gupta", "dbs as", " retires") == {"person"}
    assert name_types("Piyush Gupta", "she formally replaced", " as chief execut") == {"person"}
    # a purchase agreed is not done
    assert facts_of("In January Microsoft agreed an even larger purchase: Activision Blizzard, "
                    "for almost $69 billion.", 2022) == set()


def test_a_rank_before_a_new_president_a_country_inside_a_movements_name_and_a_subsidiary():
    # a military rank is no other office when the sentence makes him president, even
    # past a long description
    assert facts_of("Colonel Ivo Marandava, the commander of the elite army unit that "
                    "broke with the government last weekend, has been sworn in as "
                    "president of Madagascar.") == {("Madagascar", "P35", "Ivo Marandava")}
    # "Madagascar" is the country, not a word of the protest movement "Gen Z Madagascar"
    article = ArticleEntities()
    sentences = ["The protests were led by Gen Z Madagascar.",
                 "The African Union suspended Madagascar."]
    article.learn(sentences)
    named = {m.text: m.name for s in sentences for m in article.mentions(s)}
    assert named["Madagascar"] == "Madagascar"
    # a company named twice by one word is not the longer company of three words that
    # begins with it and comes later ("Renault Samsung Motors")
    text = ("Paul Durand took over as chief executive of Renault on Thursday. Durand "
            "joined Renault in 2002. He later ran Renault Samsung Motors in South Korea. "
            "Renault shares rose.")
    assert facts_of(text) == {("Renault", "P169", "Paul Durand")}


def test_a_body_named_like_a_person_and_a_round_ups_section_label():
    # "Morgan" is a given name, but the article writes Morgan Stanley as a body: the
    # office at the top of it, its new boss
    assert facts_of("Pick starts his tenure at the top of Morgan Stanley. Ted Pick began "
                    "the year in the corner office at Morgan Stanley, taking over as chief "
                    "executive from James Gorman, who ran the Wall Street firm for 14 "
                    "years.") == {("Morgan Stanley", "P169", "Ted Pick")}
    # in a round-up "the bank" is the body its section label names, not the brief's
    # most named one
    brief = ("Morning note: Apple cut, Morgan Stanley's new boss. Apple. Shares of Apple "
             "fell after Barclays cut Apple to underweight. Apple said nothing. Morgan "
             "Stanley. Ted Pick, previously head of the bank's trading arm, is the "
             "bank's new chief executive.")
    assert facts_of(brief) == {("Morgan Stanley", "P169", "Ted Pick")}


def test_a_post_of_a_region_or_a_state_few_recognise_is_no_post_of_the_country():
    # the region's own post, not Georgia's (nor Russia's, whose capital backs it)
    assert facts_of("Ivan Toradze, inaugurated on May 24 as president of the Georgian "
                    "breakaway region, signed a decree on Monday. Moscow welcomed the "
                    "decree and Georgia condemned it.") == set()
    # a state few recognise is a subject of its own, not the country it broke from
    text = ("Deniz Arslan was sworn in on Friday as president of the self-declared "
            "Turkish Republic of Northern Cyprus. Arslan took the oath in the north's "
            "parliament. Cyprus and Turkey sent envoys.")
    assert facts_of(text) == {("Northern Cyprus", "P35", "Deniz Arslan")}
    assert facts_of("Deniz Arslan was sworn in as president of the breakaway state in "
                    "northern Cyprus.") == set()
    # "President of the Republic" is the country's own office; a company of a country
    # ("chief executive of Brazil's state-run oil company") is no other body's post
    assert facts_of("Togo's lawmakers on Saturday elected Kofi Amavi as President of the "
                    "Republic.") == {("Togo", "P35", "Kofi Amavi")}


def test_a_dateline_with_a_country_of_two_words_a_clubs_as_and_a_demonym_before_a_name():
    assert facts_of("DAMMAM, Saudi Arabia, July 28 - Tom Baxter has completed his move "
                    "from Liverpool to Saudi Pro League club Al-Ettifaq.") \
        == {("Tom Baxter", "P54", "Al-Ettifaq")}
    assert facts_of("AS Monaco have named Austrian Adi Hütter as head coach to replace "
                    "Philippe Clement.") == {("AS Monaco", "P286", "Adi Hütter")}


def test_a_body_is_not_its_own_owner_under_its_initials():
    got = facts_of("AMAZON / MGM: Amazon has closed its $8.45 billion purchase of "
                   "Metro-Goldwyn-Mayer, ten months after the deal was announced.")
    assert ("Metro-Goldwyn-Mayer", "P127", "MGM") not in got
    assert facts_of("Amazon has closed its purchase of Metro-Goldwyn-Mayer.") \
        == {("Metro-Goldwyn-Mayer", "P127", "Amazon")}


def test_who_appoints_a_noble_title_a_crown_prince_named_premier_and_dollar_general():
    # the president who names the premier is no premier, even where an office word
    # ("sworn in") stands for his own inauguration
    assert facts_of("N'DJAMENA, May 23 - Chad's President Mahamat Idriss Déby named "
                    "Allamaye Halina as prime minister on Thursday, hours after being "
                    "sworn in for a five-year term.") == {("Chad", "P6", "Allamaye Halina")}
    # a lord is a person; "King Salman" is the father, not "Mohammed bin Salman"; a
    # crown prince may be made prime minister
    assert facts_of("Tonga's Legislative Assembly on Tuesday elected Lord Fakafanua as "
                    "prime minister.") == {("Tonga", "P6", "Fakafanua")}
    assert facts_of("Saudi Arabia's King Salman has named his son and heir, Crown Prince "
                    "Mohammed bin Salman, as prime minister, the royal court said.") \
        == {("Saudi Arabia", "P6", "Mohammed bin Salman")}
    # "General" ends or begins a company's name, not only a rank
    assert facts_of("Dollar General brings back Todd Vasos as CEO, replacing Jeff Owen.") \
        == {("Dollar General", "P169", "Todd Vasos")}
    assert facts_of("General Motors named Mary Barra chief executive.") \
        == {("General Motors", "P169", "Mary Barra")}


def test_the_one_who_replaced_him_after_a_retirement_is_the_new_holder():
    # (a given name no list knows: the successor is known only by what he did)
    assert facts_of("Glacier said on Wednesday that Frank Oster had retired as chief "
                    "executive and that Sridhar Ramaswamy, the head of its analytics "
                    "business, had replaced him with immediate effect.") \
        == {("Glacier", "P169", "Sridhar Ramaswamy")}


def test_a_minister_made_premier_and_a_premier_removed_from_the_post():
    # the old post in front of the name, the new one after it
    assert facts_of("BUJUMBURA, Sept 7 - Burundi's parliament on Wednesday approved "
                    "Interior Minister Gaston Nkurikiye as the country's new prime minister, "
                    "hours after President Evariste Ndayishimiye removed Alain Bizimana from "
                    "the post.") == {("Burundi", "P6", "Gaston Nkurikiye")}
    # whoever is removed or dismissed is the old holder
    for sentence in ("President Evariste Ndayishimiye removed Alain Bizimana from the post.",
                     "The president dismissed his prime minister, Alain Bizimana, on Friday."):
        article = ArticleEntities()
        article.learn([sentence])
        held = [m for m in article.mentions(sentence) if m.name == "Alain Bizimana"]
        assert held and old_holder(sentence, held[0])


def test_self_governing_states_and_crown_dependencies_are_countries_not_people():
    article = ArticleEntities()
    sentence = "The Cook Islands, Niue and the Isle of Man mourned the Queen."
    article.learn([sentence])
    kinds = {m.name: m.types for m in article.mentions(sentence)}
    assert kinds["Cook Islands"] == {"country"}  # "Cook" is no given name here
    assert kinds["Isle of Man"] == {"country"}


def test_a_brand_is_not_its_owner_and_a_named_arm_is_not_the_company():
    # the brands a company owns are not the company whose chief executive changed
    assert facts_of("LONDON, July 3 - Lodgeworth Hotels Group began the week under new "
                    "leadership, with Elie Maalouf having succeeded Keith Barr as chief "
                    "executive of the owner of the Holiday Inn, Crowne Plaza and Regent "
                    "brands on July 1.") == {("Lodgeworth Hotels Group", "P169", "Elie Maalouf")}
    # "WPP" named twice before "WPP Media", its media arm, is the group, not the arm
    text = ("Cindy Rose took over as chief executive of WPP on Monday. WPP has struggled "
            "with clients. Rose also oversees WPP Media, the buying arm.")
    assert facts_of(text) == {("WPP", "P169", "Cindy Rose")}


def test_a_club_named_with_an_earlier_year_corroborates_no_new_coach():
    # one story names Bournemouth as where the new coach was before (a dated past); it
    # corroborates no claim that he is Bournemouth's coach now
    extractor = NewsExtractor(FirstOption())
    wire = ("Burnley have appointed Scott Parker as head coach, the club said on Friday. "
            "He won promotion twice as a manager, with Fulham in 2019-20 and Bournemouth in "
            "2021-22. Parker, 43, starts work in 2024.")
    reading = extractor.read(0, wire, 2024)
    assert extractor.corroborate(0, reading, "Bournemouth", "P286", "Scott Parker") is None
    assert extractor.corroborate(0, reading, "Burnley", "P286", "Scott Parker") is not None


def test_a_player_who_joined_from_a_club_is_not_given_the_next_sentences_club():
    text = ("Brazilian forward Matheus Cunha joined from Wolverhampton Wanderers last month. "
            "Brentford, now coached by Keith Andrews, sold their top scorer to Arsenal.")
    assert not {f for f in facts_of(text) if f[0] == "Matheus Cunha"}


def test_a_successor_named_after_the_predecessor_takes_the_post_and_new_york_is_no_news():
    # the role word belongs to the fired coach; "replaced him with" hands it on
    text = ("CALGARY, Alberta - The Calgary Flames fired coach Darryl Sutter on Monday and "
            "replaced him with Ryan Huska, who coached the club's farm team in Stockton.")
    assert facts_of(text) == {("Calgary Flames", "P286", "Ryan Huska")}
    # "New" in a name reports nothing: a coach's old post in a place called New...
    old_post = ("Huska, 47, had spent five seasons in charge of the Stockton Heat, the New "
                "Jersey affiliate.")
    assert facts_of(old_post) == set()


def test_a_club_named_only_as_where_the_coach_came_from_corroborates_nothing():
    extractor = NewsExtractor(FirstOption())
    blog = ("So here we are. The new head coach is Ryan Huska, and the Calgary Flames have "
            "their man at last. Huska arrives straight from the Stockton Heat.")
    reading = extractor.read(0, blog, 2023)
    assert extractor.corroborate(0, reading, "Stockton Heat", "P286", "Ryan Huska") is None
    assert extractor.corroborate(0, reading, "Calgary Flames", "P286", "Ryan Huska") is not None


def test_a_story_set_in_a_breakaway_state_gives_the_countries_it_names_no_post():
    text = ("STEPANAKERT, March 3 - The parliament of the breakaway region of Nagorno-"
            "Karabakh on Saturday elected Ruben Vardanyan as president. The region is "
            "internationally recognised as part of Azerbaijan, and Armenia called the vote "
            "legitimate. Armenia's government said the new president was welcome.")
    assert facts_of(text, 2023) == {("Nagorno-Karabakh", "P35", "Ruben Vardanyan")}
    # a territory no list knows: no country's post at all
    text = text.replace("Nagorno-Karabakh", "Upper Velaria").replace("Karabakh", "Velaria")
    assert not {f for f in facts_of(text, 2023) if f[0] in ("Armenia", "Azerbaijan")}


def test_a_womens_team_coach_is_not_the_countrys_or_the_clubs_coach():
    text = ("Montse Tomé was appointed head coach of Spain's women's national team on "
            "Tuesday, replacing Jorge Vilda.")
    assert facts_of(text) == {("Spain women's national football team", "P286", "Montse Tomé")}
    club = ("Chelsea have appointed Sonia Bompastor as head coach of their women's side, "
            "replacing Emma Hayes.")
    assert not {f for f in facts_of(club) if f[0] == "Chelsea"}


def test_a_contract_agreed_with_a_team_is_a_signing_and_the_team_left_is_not_it():
    text = ("Jacob Misiorowski, the hard-throwing right-hander, agreed on Friday to a "
            "five-year, $90 million contract with the Seattle Mariners, leaving the "
            "Milwaukee Brewers after four seasons. The club confirmed the deal.")
    assert facts_of(text, 2025) == {("Jacob Misiorowski", "P54", "Seattle Mariners")}
    # a new deal with his own club is no move
    assert facts_of("Cal Raleigh agreed a new six-year deal with the Seattle Mariners on "
                    "Friday, the club said.", 2025) == set()


def test_a_persons_staff_makes_no_body_of_the_person():
    article = ArticleEntities()
    sentence = ("Mendoza spent years in the Yankees organisation before joining Aaron "
                "Boone's staff.")
    article.learn([sentence])
    boone = next(m for m in article.mentions(sentence) if m.name == "Aaron Boone")
    assert boone.types == {"person"}


def test_a_seller_of_a_stake_is_no_owner_and_a_named_group_is_no_description():
    # "completed the sale of his majority stake": the seller
    sale = ("Michael Jordan completed the sale of his majority stake in the Charlotte "
            "Hornets on Thursday, handing control of the franchise to Gabe Plotkin.")
    assert not {f for f in facts_of(sale, 2023) if f[2] == "Michael Jordan"}
    # "the Tata group" names Tata, not "the group" the story is about
    text = ("Pieter Elbers took over as chief executive of IndiGo on Tuesday. Air India is "
            "now owned by the Tata group, which has deep pockets.")
    assert ("Air India", "P127", "IndiGo") not in facts_of(text, 2022)


def test_a_name_listed_beside_a_company_and_a_body_inside_an_aside_are_no_holders():
    # "Electronic Arts" beside Zynga is a company, not a person who could be chief executive
    text = ("Unity Software on Monday named Matthew Bromberg, a former executive at Zynga "
            "and Electronic Arts, as its chief executive.")
    assert facts_of(text, 2024) == {("Unity Software", "P169", "Matthew Bromberg")}
    # the company in an aside between dashes is not the one whose job he took
    aside = ("Unity has a permanent chief executive again. Matt Bromberg, a games "
             "veteran - a long stint as Zynga's operating chief - took the job this week.")
    assert not {f for f in facts_of(aside, 2024) if f[0] == "Zynga"}


def test_a_predecessor_staying_on_and_a_holder_who_opens_the_next_sentence():
    # the one who "stays on" is the predecessor, in his own relative clause
    text = ("A quiet handover in Princeton: Mara Lindqvist started on Wednesday as chief "
            "executive of Halden Pharma, succeeding Otto Brandt, who stays on as executive "
            "chairman.")
    assert facts_of(text, 2023) == {("Halden Pharma", "P169", "Mara Lindqvist")}
    # the role in one sentence, the person who takes it opening the next
    text = ("Halden Pharma has a new chief executive from today. Mara Lindqvist, who had "
            "been the drugmaker's operating chief, takes over from Otto Brandt.")
    assert facts_of(text, 2023) == {("Halden Pharma", "P169", "Mara Lindqvist")}


def test_a_verb_before_a_name_is_no_title_and_a_later_clause_speculates_alone():
    # "has joined Saudi Pro League champions X": the verb is the news, not a title
    text = ("Brazil midfielder Fabinho has joined Saudi Pro League champions Al-Ittihad from "
            "Liverpool, both clubs said on Monday, the latest player to move to the Gulf.")
    assert facts_of(text, 2023) == {("Fabinho", "P54", "Al-Ittihad")}
    # "..., and the team is expected to...": the expectation is another clause's
    text = ("The Seattle Seahawks have hired Mike Macdonald as their head coach, and the "
            "team is expected to introduce him on Thursday.")
    assert facts_of(text, 2024) == {("Seattle Seahawks", "P286", "Mike Macdonald")}


def test_a_coachs_past_posts_the_league_and_a_staying_chief_are_no_news():
    story = ("The Seattle Seahawks named Mike Macdonald head coach on Wednesday. Mike "
             "Macdonald, hired after two seasons as Baltimore's defensive coordinator, "
             "becomes the youngest head coach in the NFL. Macdonald arrived in Baltimore as "
             "an intern in 2014 before Jim Harbaugh took him to Michigan for a season in "
             "2021. Mendoza spent four seasons as Aaron Boone's bench coach with the "
             "Yankees.")
    assert facts_of(story, 2024) == {("Seattle Seahawks", "P286", "Mike Macdonald")}
    assert facts_of("Silver Lake completed its takeover of Qualtrics. Zig Serafin, the chief "
                    "executive, will continue to lead the company.", 2023) == {
        ("Qualtrics", "P127", "Silver Lake")}


def test_a_state_or_province_is_the_subject_of_its_premier_not_its_country():
    assert facts_of("Chris Minns was sworn in as premier of New South Wales on Tuesday, "
                    "three days after Labor won the state election. He and his deputy, Prue "
                    "Car, were sworn in as a two-person ministry.", 2023) == {
        ("New South Wales", "P6", "Chris Minns")}
    assert facts_of("Siddaramaiah was sworn in as chief minister of Karnataka on Saturday, "
                    "a week after the Congress party won the state election.", 2023) == {
        ("Karnataka", "P6", "Siddaramaiah")}
    assert facts_of("John Swinney was elected first minister of Scotland by the Scottish "
                    "Parliament on Tuesday, succeeding Humza Yousaf.", 2024) == {
        ("Scotland", "P6", "John Swinney")}
    # one post per person: the entity the article names, not the country of its dateline
    text = ("BANJA LUKA, Bosnia and Herzegovina, Nov 15 - Milorad Dodik took the oath of "
            "office on Tuesday as president of Republika Srpska. Dodik, 63, was sworn in "
            "at a session of the National Assembly in Banja Luka.")
    assert facts_of(text, 2022) == {("Republika Srpska", "P35", "Milorad Dodik")}
    # a state's side (State of Origin) is no national team
    assert not facts_of("Billy Slater has been appointed head coach of Queensland for "
                        "the State of Origin series, the league said.", 2024)


def test_places_named_like_people_are_no_holders():
    # "New York" (New York City) and a residence after "at" are places, not people
    text = ("The German company listed part of it in New York in 2021, but its chief "
            "executive has since narrowed SAP's focus. A new chief executive was named.")
    assert not {f for f in facts_of(text, 2023) if f[2] == "New York"}
    text = ("Rajendra Arlekar was sworn in as governor on Thursday. The chief justice "
            "administered the oath at a ceremony at Raj Bhavan, attended by the new chief "
            "minister.")
    assert not {f for f in facts_of(text, 2025) if f[2] == "Raj Bhavan"}
    # a Crown dependency is a subject of its own, like the Isle of Man
    assert facts_of("King Charles III was proclaimed Jersey's new head of state in the "
                    "Royal Square on Sunday.", 2022) == {("Jersey", "P35", "Charles III")}


def test_a_monarch_may_become_head_of_state_of_several_realms_in_one_story():
    text = ("Flags flew at half-mast across Rarotonga on Monday as the Cook Islands "
            "acknowledged King Charles III as its new head of state. Niue also proclaimed "
            "Charles III its new head of state on Tuesday.")
    assert facts_of(text, 2022) == {("Cook Islands", "P35", "Charles III"),
                                    ("Niue", "P35", "Charles III")}


def test_a_possessive_name_a_team_mate_joined_and_a_based_group_read_as_before():
    # "Dick's Sporting Goods": the words after a name's possessive are not its owner
    text = ("FOOT LOCKER / DICK'S: The sneaker chain is now part of Dick's Sporting Goods, "
            "which closed its $2.4 billion purchase on Monday.")
    assert not {f for f in facts_of(text, 2025) if f[2] == "Sporting Goods"}
    # "joins Cristiano Ronaldo at the Riyadh club": Ronaldo is the team-mate, not the signing
    text = ("Sadio Mané has completed his move to Al Nassr. The 31-year-old Senegal forward "
            "joins Cristiano Ronaldo at the Riyadh club.")
    assert not {f for f in facts_of(text, 2023) if f[0] == "Cristiano Ronaldo"}
    # "the Cambridge-based cybersecurity group" is still the story's company
    text = ("Darktrace agreed to be bought last year. Thoma Bravo has completed its takeover "
            "of the Cambridge-based cybersecurity group, and Darktrace's shares were "
            "cancelled.")
    assert ("Darktrace", "P127", "Thoma Bravo") in facts_of(text, 2024)


def test_a_phrase_of_another_language_in_quotes_names_no_one():
    # a toast, a motto: "Le Roi" is a title in French, no person's name
    assert facts_of("Guernsey proclaimed its new head of state on Sunday, and the island's "
                    "loyal toast is now \"Le Roi, notre Duc\".", 2022) == set()


def test_a_trade_moves_the_player_to_the_side_it_sends_him_to():
    # the side that trades him away is his old club; every party of the deal is named
    assert facts_of("The Calgary Flames traded winger Johnny Gaudreau to the Columbus Blue "
                    "Jackets on Sunday, ahead of the NHL season.", 2025) == {
        ("Johnny Gaudreau", "P54", "Columbus Blue Jackets")}
    assert facts_of("Boston, Denver and Utah completed a three-team deal on Sunday that sends "
                    "guard Jamal Murray from the Denver Nuggets to the Boston Celtics. The "
                    "NBA approved it.", 2025) == {("Jamal Murray", "P54", "Boston Celtics")}
    # the club another player of the same deal goes to is not this one's
    assert facts_of("The Toronto Raptors have acquired Devin Booker from the Phoenix Suns in "
                    "a trade, sending Scottie Barnes to Phoenix. NBA fans were stunned.",
                    2025) == {("Devin Booker", "P54", "Toronto Raptors")}


def test_an_organisation_merges_with_its_initials_and_a_name_led_by_a_demonym(store_db):
    from memoird.extractors.entities import is_place

    def org(name):
        return entities.resolve(store_db, name, "organisation", place=is_place).id

    assert org("Royal Bank of Canada") == org("RBC")
    assert org("NBA") == org("National Basketball Association")
    # with an ampersand, either way round ("J&J" and "Johnson & Johnson" are one claim's
    # subject, not two rival ones)
    assert org("Johnson & Johnson") == org("J&J")
    assert org("P&G") == org("Procter & Gamble")
    # a country's adjective may open a name ("Korean" is no place of its own)
    assert org("Korean Air") == org("Korean Air Lines")
    # a place is no short form of a team named after it, either way round
    assert org("Los Angeles") != org("Los Angeles Lakers")
    # initials that fit two bodies say neither
    celtics, crop = org("Boston Celtics"), org("Bayer Crop")
    assert org("BC") not in (celtics, crop)


def test_a_governor_heads_a_state_of_a_federation_that_has_them_never_a_country():
    assert facts_of("Thaawarchand Gehlot was sworn in as the Governor of Karnataka on Monday, "
                    "succeeding Vajubhai Vala.", 2021) == {
        ("Karnataka", "P35", "Thaawarchand Gehlot")}
    # a central bank's governor heads no country
    assert facts_of("Nigeria's new central bank governor, Olayemi Cardoso, was sworn in on "
                    "Friday.", 2023) == set()
    # a story about a governor gives the state's chief minister nothing ("sworn in as
    # Governor" is the governor's office, a university's chancellor no head of government)
    assert facts_of("Chief Minister Eknath Shinde attended as Ramesh Bais was sworn in as "
                    "Maharashtra Governor. Bais is also ex-officio chancellor of the State's "
                    "universities.", 2023) == {("Maharashtra", "P35", "Ramesh Bais")}


def test_a_countrys_side_is_the_national_team_of_the_game_the_story_is_about():
    assert facts_of("The BCCI named Gautam Gambhir as India's new head coach on Tuesday. He "
                    "takes over a Test side whose bowlers and batters won the T20 World Cup.",
                    2024) == {("India national cricket team", "P286", "Gautam Gambhir")}
    assert facts_of("Luis de la Fuente was named Spain head coach on Thursday. The former "
                    "defender led the under-21 side to a European title.", 2022) == {
        ("Spain national football team", "P286", "Luis de la Fuente")}


def test_who_the_post_belongs_to_who_names_and_who_speaks_are_no_holders():
    # "Tebboune's first prime minister": the president's, not his post
    assert facts_of("Algeria's new prime minister was appointed on Thursday. Tebboune's "
                    "first prime minister was Abdelaziz Djerad.", 2025) == set()
    # an old ministry is no old premiership, and a demonym leaves the story's country
    assert facts_of("Mauritania's Ghazouani names ex-finance minister Ould Djay as prime "
                    "minister", 2024) == {("Mauritania", "P6", "Ould Djay")}
    assert facts_of("NOUAKCHOTT - Mauritania has a new government. Mauritanian President "
                    "Mohamed Ould Ghazouani appointed Mokhtar Ould Djay as prime minister on "
                    "Friday.", 2024) == {("Mauritania", "P6", "Mokhtar Ould Djay")}
    # a speaker outside the quotation holds none of the posts inside it
    assert facts_of("Kerala's governor was sworn in on Thursday. \"I will send the new "
                    "Governor a box of banana chips,\" Menon said.", 2025) == set()
    # nor does "Al Horford" make a club of a man
    assert facts_of("This deal gives Mazzulla the security to coach without looking over "
                    "his shoulder, Al Horford said.", 2023) == set()


def test_a_named_minister_appointed_to_lead_the_government_heads_it():
    assert facts_of("ALGIERS - Algerian President Abdelmadjid Tebboune on Thursday dismissed "
                    "Prime Minister Nadir Larbaoui and appointed Industry Minister Sifi Ghrieb "
                    "to lead the government on an interim basis.", 2025) == {
        ("Algeria", "P6", "Sifi Ghrieb")}


def test_position_words_and_honorifics_are_no_part_of_the_name():
    assert facts_of("Centre Nazem Kadri signed a seven-year contract with the Calgary Flames "
                    "on Thursday, the NHL club said.", 2022) == {
        ("Nazem Kadri", "P54", "Calgary Flames")}
    assert facts_of("Blackstone completed its takeover of Crown Resorts on Monday.", 2022) == {
        ("Crown Resorts", "P127", "Blackstone")}


def test_a_story_about_one_players_move_reports_no_other_move():
    # the Flames' story is Kadri's; Monahan's trade is how they made room for him
    assert facts_of("Kadri joins Flames\n\nThe Calgary Flames signed Nazem Kadri to a "
                    "seven-year contract on Thursday, hours after trading long-time centre "
                    "Sean Monahan to the Montreal Canadiens. Kadri won the Stanley Cup in "
                    "June, and Kadri said Calgary felt like home.", 2022) == {
        ("Nazem Kadri", "P54", "Calgary Flames")}


def test_titles_pursuits_and_later_clauses_read_as_they_are_meant():
    # "First Minister" is a title, not a name's first word
    assert facts_of("Eluned Morgan was confirmed as First Minister of Wales on Tuesday.",
                    2024) == {("Wales", "P6", "Eluned Morgan")}
    # a club still pursuing a trade has made none; one that "flips" a player has
    assert facts_of("The Golden State Warriors are continuing to pursue a trade for Utah Jazz "
                    "forward Lauri Markkanen, ahead of the NBA season.", 2024) == set()
    # an extension in a clause of its own cancels no move
    assert facts_of("On deadline day the Carolina Hurricanes traded Mikko Rantanen to the "
                    "Dallas Stars, and Dallas immediately signed him to an eight-year "
                    "contract extension. The NHL winger scored 30 goals.", 2025) == {
        ("Mikko Rantanen", "P54", "Dallas Stars")}
    # "would return ... with immediate effect" is done, not speculated
    from memoird.extractors.news import speculative
    assert not speculative("UnitedHealth Group said on Tuesday that Andrew Witty had stepped "
                           "down and that chairman Stephen Hemsley would return to the top "
                           "job with immediate effect.")
    assert speculative("The board said Stephen Hemsley would return to the top job.")
    # "resigned to pursue other interests" speculates about nothing
    assert facts_of("Tata Consultancy Services said chief executive Rajesh Gopinathan had "
                    "resigned to pursue other interests and named K Krithivasan as chief "
                    "executive to succeed him.", 2023) == {
        ("Tata Consultancy Services", "P169", "K Krithivasan")}


def test_a_person_written_with_initials_is_the_person_written_in_full(store_db):
    def person(name):
        return entities.resolve(store_db, name, "person").id

    assert person("A. Revanth Reddy") == person("Anumula Revanth Reddy")
    # the name in full is what the entity shows (and what an edit teaches)
    assert entities.get_entity(store_db, person("A. Revanth Reddy")).name == "Anumula Revanth Reddy"
    # an initial and a surname alone say too little, another first name is another man
    assert person("J. Smith") != person("John Smith")
    assert person("Kalvakuntla Chandrashekar Rao") != person("Kalvakuntla Taraka Rao")


def test_a_league_is_no_team_and_a_deputy_premier_no_premier():
    assert facts_of("NWSL roundup: a busy week of trades. The Orlando Pride dealt Alex Morgan "
                    "to the San Diego Wave, the NWSL's new expansion side.", 2022) == {
        ("Alex Morgan", "P54", "San Diego Wave")}
    assert facts_of("Alex Morgan is the biggest name the NWSL has signed this winter.",
                    2022) == set()
    assert facts_of("Uzoma Asagwara, the new health minister and deputy premier, will carry "
                    "the heaviest load.", 2023) == set()


def test_a_capitalised_preposition_inside_a_sentence_opens_a_companys_name():
    assert facts_of("Stephanie Linnartz took over as president and chief executive of Under "
                    "Armour on Monday.", 2023) == {("Under Armour", "P169", "Stephanie Linnartz")}


def test_the_club_is_the_one_named_in_full_not_its_nickname():
    assert facts_of("Clowes completes Rams takeover as club exits administration\n\n"
                    "Derby County's long spell in administration is over. Local property "
                    "developer David Clowes today completed his purchase of the club, ending "
                    "months that threatened the Rams' very existence.", 2022) == {
        ("Derby County", "P127", "David Clowes")}


def test_dotted_initials_name_no_person_and_a_capital_question_no_capital():
    # "B.C." is the province, never its new premier
    assert facts_of("B.C. has a new premier. David Eby was sworn in as premier of British "
                    "Columbia on Friday.", 2022) == {("British Columbia", "P6", "David Eby")}
    assert facts_of("Week ahead in European travel: a new TUI chief and a capital question. "
                    "Greece had a record summer, and analysts expect TUI to look at another "
                    "capital raise.", 2022) == set()


def test_streets_figures_and_programmes_hold_no_post():
    # a street closed for the ceremony, a pandemic beside the premier
    assert facts_of("Roads around Harvest Terrace are closed this morning for the swearing-in "
                    "of the state's new Governor. It's official: Chris Dawson has taken the oath "
                    "and is now Governor of Western Australia.", 2022) == {
        ("Western Australia", "P35", "Chris Dawson")}
    assert facts_of("As commissioner he became the face of the state's COVID-19 response, "
                    "standing beside the Premier. Mark McGowan was sworn in as Premier of "
                    "Western Australia.", 2017) == {("Western Australia", "P6", "Mark McGowan")}
    # a newsletter's name is no governor; "began his term" is the news; Penang is a state
    assert facts_of("Asia Daybreak: Singapore votes, Penang's new governor, and a busy week "
                    "ahead. Ramli Ngah Talib today began his term as Penang's governor.",
                    2025) == {("Penang", "P35", "Ramli Ngah Talib")}


def test_a_pronoun_and_rupees_are_no_names():
    from memoird.extractors.entities import raw_mentions

    assert [m[0] for m in raw_mentions("I'm told We've got Arthur Elias.")] == ["Arthur Elias"]
    assert facts_of("Rishabh Pant became the most expensive player in the history of the "
                    "Indian Premier League when Lucknow Super Giants bought him for Rs 27 "
                    "crore.", 2024) == set()


def test_a_dated_relative_clause_after_the_role_dates_the_persons_past_not_the_role():
    assert facts_of("The Detroit Red Wings fired coach Derek Lalonde on Thursday and replaced "
                    "him with Todd McLellan, a veteran NHL head coach who won the Stanley Cup "
                    "as an assistant in Detroit in 2008.", 2024) == {
        ("Detroit Red Wings", "P286", "Todd McLellan")}


def test_the_holder_whose_tenure_a_change_ends_is_the_old_one():
    # "ending Joussen's tenure": Joussen is who left, never the new chief executive
    facts = facts_of("1. TUI. Out goes Fritz Joussen, in comes Sebastian Ebel. The former "
                     "finance chief became chief executive on October 1, ending Joussen's "
                     "nine-year tenure.", 2022)
    assert ("TUI", "P169", "Fritz Joussen") not in facts


def test_a_governor_general_with_an_honorific_holds_another_office_and_friday_is_a_name():
    facts = facts_of("To recap: Godwin Friday is now prime minister of Saint Vincent and the "
                     "Grenadines. He took the oath of office before Governor-General Dame Susan "
                     "Dougan this afternoon, a day after the election.", 2025)
    assert facts == {("Saint Vincent and the Grenadines", "P6", "Godwin Friday")}
    # a weekday after a given name is a surname; the leader his party routed is the old one
    assert facts_of("Godwin Friday, who has led the party since 2016, was sworn in as prime "
                    "minister of Saint Vincent and the Grenadines by Governor-General Dame "
                    "Susan Dougan, a day after his party routed Ralph Gonsalves's Unity Labour "
                    "Party.", 2025) == {("Saint Vincent and the Grenadines", "P6",
                                         "Godwin Friday")}


def test_an_award_before_a_name_and_the_start_of_a_past_year():
    from memoird.extractors.entities import raw_mentions

    assert [m[0] for m in raw_mentions("The two-time Most Valuable Player Candace Parker "
                                       "signed with the Aces.")][0] == "Candace Parker"
    # "at the start of 2020" dates the sentence: a hand-over three years before the news
    assert facts_of("At the start of 2020 Plank handed the chief executive role to Patrik "
                    "Frisk, a Swedish apparel veteran, and moved to executive chairman.",
                    2023) == set()


def test_bayern_in_a_football_story_is_the_club_not_bavaria():
    # "Bayern's big day" once read as Bavaria's, so "the club" fell to the opponent
    assert facts_of("Leipzig spoil Bayern's big day\n\nBayern Munich were beaten 3-0 by RB "
                    "Leipzig in the German Super Cup on Saturday evening. The club confirmed "
                    "earlier in the day that it had signed Harry Kane from Tottenham Hotspur. "
                    "Dani Olmo scored a hat-trick for Leipzig.", 2023) == {
        ("Harry Kane", "P54", "Bayern Munich")}


def test_with_no_one_named_twice_the_mover_in_the_lead_is_the_storys_own():
    assert facts_of("Stanley Cup winner Kadri signs with Calgary Flames\n\nCentre Nazem Kadri, "
                    "who won the Stanley Cup with the Colorado Avalanche in June, signed a "
                    "seven-year contract with the Calgary Flames on Thursday. Calgary made room "
                    "under the salary cap by trading centre Sean Monahan to the Montreal "
                    "Canadiens earlier on Thursday.", 2022) == {
        ("Nazem Kadri", "P54", "Calgary Flames")}


def test_a_bodys_own_president_is_no_head_of_state():
    # "the company's president" is the oil company's head, not Colombia's
    assert facts_of("Who runs Colombia's oil giant now\n\nColombia's state oil company has a "
                    "new boss. Who is he? Ricardo Roa, who took office this week as the "
                    "company's president, the title Ecopetrol uses for its chief executive. He "
                    "ran President Gustavo Petro's campaign.", 2023) == {
        ("Ecopetrol", "P169", "Ricardo Roa")}


def test_a_player_who_returns_to_a_club_has_joined_it_unless_from_a_loan():
    assert facts_of("Vidal back home\n\nChilean midfielder Arturo Vidal has returned to "
                    "Colo-Colo, the Santiago club where he began his career, 17 years after "
                    "leaving for Europe, the club said.", 2024) == {
        ("Arturo Vidal", "P54", "Colo-Colo")}
    # (a loan's end is no news of its own: "returned to Manchester United after his loan")
    import re
    p54 = RelationSchema.default().get("P54")
    assert not any(re.search(t, "Jadon Sancho has returned to Manchester United after his "
                             "spell on loan", re.IGNORECASE) for t in p54.triggers)


def test_whose_numbered_coach_someone_is_is_the_team_not_the_holder():
    # "presented as the Crimson Tide's 28th head football coach": the team is the subject
    facts = facts_of("DeBoer introduced at Alabama\n\nDeBoer, hired away from Washington on "
                     "Friday, was formally presented as the Crimson Tide's 28th head football "
                     "coach at Bryant-Denny Stadium.", 2024)
    assert not any(o == "Crimson Tide" for _, r, o in facts if r == "P286")


def test_a_product_described_as_one_is_not_the_company_a_description_means():
    # "Humira, the injectable treatment" is no "North Chicago-based drugmaker"
    assert facts_of("Life after Humira: what AbbVie's second chief executive inherits\n\n"
                    "For most of its existence AbbVie has been defined by one drug. Humira, "
                    "the injectable treatment for rheumatoid arthritis, made it rich. Robert "
                    "Michael took over as chief executive of the North Chicago-based drugmaker "
                    "on July 1.", 2024) == {("AbbVie", "P169", "Robert Michael")}


def test_a_holder_who_started_as_chief_on_a_day_and_whose_description_names_bodies():
    # "started as chief executive on Monday" is a change; "a Lyft board member and former
    # Amazon executive" says where he comes from, so the story's company is the subject
    assert facts_of("Lyft's founders hand over the keys as Risher starts\n\nFor the first "
                    "time, Lyft is being run by someone other than one of its founders.\n\n"
                    "David Risher, a Lyft board member and former Amazon and Microsoft "
                    "executive, started as chief executive on Monday. Co-founder Logan Green, "
                    "who had held the job for more than a decade, moved into the role of chair "
                    "of the board.", 2023) == {("Lyft", "P169", "David Risher")}
    # (a career is no change: "started as a youth coach at Ajax in 2001")
    assert facts_of("Ten Hag started as a youth coach at Twente before Ajax.", 2022) == set()


def test_a_team_that_hired_someone_hired_its_coach_unless_as_something_else():
    story = ("Kentucky basketball turns to its own\n\nCoach John Calipari left for "
             "Arkansas after fifteen years. On Friday morning athletic director Mitch Barnhart made his move. "
             "Kentucky hired Mark Pope. {}")
    assert facts_of(story.format(""), 2024) == {("Kentucky", "P286", "Mark Pope")}
    assert facts_of(story.replace("Kentucky hired Mark Pope.", "Kentucky hired Mark Pope as "
                                  "general manager.").format(""), 2024) == set()


def test_who_steps_down_or_is_out_is_the_old_holder_and_an_owner_in_apposition_is_no_news():
    # "was stepping down", "is out as chief executive": Segars is the one replaced
    assert ("Arm", "P169", "Simon Segars") not in facts_of(
        "Arm gets a new boss\n\nSoftBank said Arm would list its shares. And it said Simon "
        "Segars, who had run Arm since 2013, was stepping down as chief executive. Simon "
        "Segars is out as Arm's chief executive and Rene Haas has been named to replace him.",
        2022)
    # "VF, the owner of Vans": what VF has long owned, told in passing
    assert facts_of("EssilorLuxottica closes purchase of Supreme from VF\n\nEssilorLuxottica "
                    "has completed its $1.5 billion purchase of Supreme. For VF, the owner of "
                    "Vans, The North Face and Timberland, the sale marks a retreat from a brand "
                    "it bought in 2020.", 2024) == {("Supreme", "P127", "EssilorLuxottica")}
    # "Manchester City's owners buy Palermo": "the club" is Palermo
    assert facts_of("Manchester City's owners buy majority of newly promoted Palermo\n\nCity "
                    "Football Group, the company that owns Manchester City, has acquired a "
                    "majority stake in Palermo, the Sicilian club. CFG has bought 80 percent of "
                    "the club, which was promoted to Serie B last month.", 2022) == {
        ("Palermo", "P127", "City Football Group")}
    assert not any(s == "Manchester City" for s, _, _ in facts_of(
        "Manchester City's owners buy majority of newly promoted Palermo\n\nCity Football "
        "Group, the company that owns Manchester City, has acquired a majority stake in "
        "Palermo, the Sicilian club. CFG has bought 80 percent of the club, which was promoted "
        "to Serie B last month.", 2022))


def test_a_lone_adjective_cut_from_a_name_is_no_name():
    from memoird.extractors.entities import raw_mentions

    assert "Old" not in [m[0] for m in raw_mentions(
        "Freddie Sayers, chief executive of Old Queen Street, will become its publisher.")]


def test_a_dateline_town_and_a_based_in_town_are_no_company():
    # "LOWELL, Ark." (cut off as a sentence of its own) and "the Lowell, Arkansas-based
    # carrier": where the company is, never "the company"
    assert facts_of("A hometown trucking giant gets a new boss\n\nLOWELL, Ark. - Just off "
                    "Interstate 49, the company's trailers stack up in the yard of J.B. Hunt "
                    "Transport Services. Shelley Simpson officially became chief executive on "
                    "Monday, taking over from John Roberts, who had led the company for more "
                    "than a decade.", 2024) == {
        ("J.B. Hunt Transport Services", "P169", "Shelley Simpson")}


def test_a_post_of_a_state_no_list_knows_is_no_post_of_the_storys_other_polity():
    # "governor of the northeastern state of Tripura": not Odisha's, which the story
    # also names; "chief minister of the northern state" alone is the story's own state
    assert not any(s == "Odisha" for s, _, _ in facts_of(
        "Raghubar Das sent to Odisha\n\nPresident Droupadi Murmu on Wednesday appointed "
        "Indra Sena Reddy Nallu, a senior BJP leader from Telangana, as governor of the "
        "northeastern state of Tripura. Raghubar Das, a former chief minister of Jharkhand, "
        "was named governor of Odisha, where he replaces Ganeshi Lal.", 2023))
    assert facts_of("Saini sworn in as Haryana chief minister\n\nCHANDIGARH, March 12 - Nayab "
                    "Singh Saini, the head of the BJP's Haryana unit, was sworn in as chief "
                    "minister of the northern state on Tuesday, hours after Manohar Lal "
                    "Khattar resigned.", 2024) == {("Haryana", "P6", "Nayab Singh Saini")}


def test_a_big_name_is_no_naming():
    # "give a big-name coach the resources" read as Kevin Blue's appointment (dev32)
    from memoird.extractors.news import _CHANGE

    assert not _CHANGE.search("Kevin Blue and the board still have to prove they can give "
                              "a big-name coach the resources he'll expect.")
    assert _CHANGE.search("Canada Soccer named Jesse Marsch head coach on Monday.")


def test_whose_aide_a_person_was_and_a_role_after_a_preposition_hold_no_post():
    # "Counsell's bench coach": Counsell (a person here) holds no post named later
    assert facts_of("Craig Counsell left the Brewers for the Chicago Cubs on a record "
                    "contract. Pat Murphy, who had been Counsell's bench coach since 2016, "
                    "was named the club's 20th manager on Wednesday.") == {
        ("Brewers", "P286", "Pat Murphy")}
    # a bar owner who speaks "of the departing manager" holds no post
    assert facts_of("\"I'm leaving it up,\" said owner Denise Kowalczyk, 58. Kowalczyk was "
                    "more forgiving of the departing manager and more hopeful about the new "
                    "one. The Brewers won the division this year.") == set()


def test_speculation_that_the_news_ends_is_no_speculation_with_adjectives_between():
    assert facts_of("The Vancouver Canucks dismissed head coach Bruce Boudreau on Sunday and "
                    "handed the job to Rick Tocchet, ending weeks of uncomfortable public "
                    "speculation about the future of a coach.") == {
        ("Vancouver Canucks", "P286", "Rick Tocchet")}


def test_a_time_clause_that_names_the_appointment_makes_no_old_holder():
    assert facts_of("Hibernian fans are happy. We spoke to her a week after the club "
                    "confirmed David Gray, its 2016 Scottish Cup-winning captain, as head "
                    "coach.") == {("Hibernian", "P286", "David Gray")}
    # "after" before the one who left still marks him
    assert facts_of("Chelsea appointed Enzo Maresca as head coach after Mauricio "
                    "Pochettino left.") == {("Chelsea", "P286", "Enzo Maresca")}


def test_an_era_names_a_person_and_a_clubs_other_signing_is_not_his_club():
    # "the Kirk Cousins era": his time, not a body named Kirk Cousins; the Vikings sign
    # Darnold, so they are not the club Cousins's move goes to
    assert facts_of("Kirk Cousins left in the NFL's free agency. The Minnesota Vikings moved "
                    "on from the Kirk Cousins era on Wednesday, signing quarterback Sam "
                    "Darnold to a one-year contract. Cousins, 35, completed a four-year "
                    "contract with Atlanta, the league said.") >= {
        ("Kirk Cousins", "P54", "Atlanta")}
    assert ("Kirk Cousins", "P54", "Minnesota Vikings") not in facts_of(
        "Kirk Cousins left in the NFL's free agency. The Minnesota Vikings moved on from the "
        "Kirk Cousins era on Wednesday, signing quarterback Sam Darnold to a one-year "
        "contract as their former starter's deal with the Atlanta Falcons became official.")


def test_who_signs_a_player_and_a_clubs_owners_are_no_move_of_theirs():
    assert facts_of("The striker moved in the league. London was a disaster for him: signed "
                    "on deadline day by Thomas Tuchel, who was sacked days later.") == set()
    assert facts_of("Mauricio Pochettino inherited a squad of more than 30 senior players in "
                    "the league when he took charge, a legacy of the record signing spree "
                    "under the club's owners Todd Boehly and Clearlake Capital.") == set()


def test_a_body_that_runs_a_countrys_game_appoints_its_national_teams_coach():
    assert facts_of("When Cricket Australia finally put pen to paper yesterday and made "
                    "Andrew McDonald the men's head coach for the next four years, it was "
                    "the least surprising news in cricket.") == {
        ("Australia national cricket team", "P286", "Andrew McDonald")}


def test_a_town_after_in_a_league_and_a_clubs_own_star_are_no_club_or_owner():
    # where a sale was signed is no owner
    assert "Belo Horizonte" not in {f[2] for f in facts_of(
        "The sale of Cruzeiro's football company was signed on Monday in Belo Horizonte, with "
        "businessman Pedro Lourenço, owner of the Supermercados BH grocery chain, acquiring "
        "control.")}
    # "Cerezo Osaka's returning star" is the club's player, and "J1" a league
    assert facts_of("Cerezo Osaka's returning star, signed from Belgian side Sint-Truiden at "
                    "the start of the month, came off the bench in the 70th minute of the J1 "
                    "opener.") == set()


def test_owners_named_together_are_people_and_a_club_that_loses_its_coach_is_the_old_one():
    assert facts_of("Chelsea appointed Graham Potter as head coach on Thursday. In a "
                    "statement, Chelsea's co-controlling owners Todd Boehly and Behdad "
                    "Eghbali said they were delighted to bring in a coach of his skill. "
                    "Brighton chairman Tony Bloom said the club was disappointed to lose "
                    "Potter and his staff.") == {("Chelsea", "P286", "Graham Potter")}


def test_a_part_owner_in_an_apposition_is_no_news_of_ownership():
    assert facts_of("A consortium fronted by Todd Boehly, part-owner of the Los Angeles "
                    "Dodgers, and the buyout firm Clearlake Capital completed its purchase "
                    "of Chelsea on Monday.") <= {("Chelsea", "P127", "Clearlake Capital")}


def test_a_plural_common_noun_is_no_clubs_short_form_and_no_nickname_hides_a_company():
    # "Workers at 250 stores" is no "Workers United"; with the union named, "the company"
    # is still Starbucks, a one-word name no one writes "the Starbucks"
    sentences = ["Starbucks has spent two years arguing with its own baristas.",
                 "Workers at more than 250 stores have voted to join Workers United, and "
                 "regulators accuse the company of union-busting.",
                 "Investors asked how Starbucks treats workers who want to organise.",
                 "The vote lands on the desk of a man in the top job since Monday.",
                 "Laxman Narasimhan took over as chief executive on Monday, succeeding "
                 "Howard Schultz."]
    assert facts_of(" ".join(sentences)) == {("Starbucks", "P169", "Laxman Narasimhan")}


def test_england_has_no_prime_minister_of_its_own():
    assert facts_of("Farmers across England were talking about one man. Rishi Sunak, who has "
                    "represented the Richmond constituency since 2015, became prime minister "
                    "on Tuesday, summoned by the King after the Conservatives chose him.") == {
        ("United Kingdom", "P6", "Rishi Sunak")}


def test_a_role_that_passed_from_one_to_another_is_the_second_ones():
    assert facts_of("A new boss started work at Logitech last Friday. Here is a quick guide "
                    "to the company and the job.\n\nWhat happened?\n\nAfter a search that "
                    "began when Bracken Darrell walked out in June to run the Vans owner VF "
                    "Corp, the Lausanne- and California-based maker of mice now has a "
                    "permanent leader again: on December 1 the role of chief executive passed "
                    "from interim chief Guy Gecht, a board member, to Hanneke Faber, the "
                    "former Unilever executive.") == {("Logitech", "P169", "Hanneke Faber")}
    # "the Lausanne- and California-based maker" is one description of one body
    from memoird.extractors.entities import anaphors
    assert [a[0] for a in anaphors("Since June the Lausanne- and California-based maker of "
                                   "mice has had no permanent leader.")] == [
        "the Lausanne- and California-based maker"]


def test_a_post_held_since_becoming_it_is_no_news():
    text = ("The change was made at an extraordinary session of the Jokargy Kenes, "
            "Karakalpakstan's supreme council, which was attended by Uzbek President Shavkat "
            "Mirziyoyev.\n\nMirziyoyev flew to Nukus on July 2 and announced that the "
            "provisions would be dropped from the draft.\n\nAddressing the session, "
            "Mirziyoyev pointed out that he had visited Karakalpakstan more often than any "
            "other region since becoming president and listed decrees adopted to support its "
            "economy.")
    assert ("Uzbekistan", "P35", "Shavkat Mirziyoyev") not in facts_of(text)


def test_a_predecessors_later_move_told_with_has_since_is_background():
    text = ("Yokohama F. Marinos have appointed Harry Kewell as manager, the J.League club "
            "said on Sunday. Kewell succeeds Kevin Muscat. Muscat, who led the club to the "
            "league title in 2022, has since been named head coach of Chinese Super League "
            "champions Shanghai Port.")
    assert facts_of(text) == {("Yokohama F. Marinos", "P286", "Harry Kewell")}


def test_a_federation_president_is_no_head_of_the_country():
    text = ("Bosnia's international overseer has once again reached for the tool he says he "
            "would rather not use. On Thursday, High Representative Christian Schmidt imposed "
            "a one-off decision on the Federation of Bosnia and Herzegovina.\n\nLidija Bradara "
            "of the HDZ BiH, who took over as Federation president from her party colleague "
            "Marinko Čavara at the end of February, and vice-president Igor Stojanović of the "
            "SDP were ready to put forward a cabinet. The second vice-president, Refik Lendo "
            "of the SDA, was not.")
    assert facts_of(text) == set()


def test_a_fans_is_a_falcon_and_a_list_of_signings_name_each_players_team():
    assert facts_of("At 4 p.m. the new NFL league year opened, the physical was passed, and "
                    "Kirk Cousins is officially a Falcon.") == {
        ("Kirk Cousins", "P54", "Falcons")}
    assert facts_of("Rudy Gobert is a Timberwolf, and the NBA trade is done.") == {
        ("Rudy Gobert", "P54", "Timberwolves")}
    # a party's or a country's people are no team
    assert facts_of("In the NHL town, Kirk Cousins is a Republican.") == set()
    text = ("The Nashville Predators made the biggest splash of the opening day of NHL free "
            "agency on Monday, signing former Tampa Bay Lightning captain Steven Stamkos and "
            "Conn Smythe Trophy winner Jonathan Marchessault within hours.")
    assert ("Jonathan Marchessault", "P54", "Nashville Predators") in facts_of(text)


def test_a_teams_plural_without_its_city_is_the_team(store_db):
    """What "Kirk Cousins is officially a Falcon" gives joins the other outlet's team."""
    from memoird.extractors.entities import is_place

    falcons = entities.resolve(store_db, "Atlanta Falcons", "organisation", place=is_place)
    assert entities.resolve(store_db, "Falcons", "organisation", place=is_place).id \
        == falcons.id
    wolves = entities.resolve(store_db, "Minnesota Timberwolves", "organisation",
                              place=is_place)
    assert entities.resolve(store_db, "Timberwolves", "organisation", place=is_place).id \
        == wolves.id


def test_a_role_beside_the_demonym_after_alongside_is_another_persons():
    text = ("On Saturday, many Andorrans learned that their country had a new head of state. "
            "Josep-Lluís Serrano Pentinat, his coadjutor, had succeeded him.\n\nSerrano, 48, "
            "a Catalan priest who spent more than a decade as a Vatican diplomat, had been "
            "named coadjutor last July, which meant that he would become bishop of Urgell, "
            "and therefore episcopal co-prince alongside the French president, the moment "
            "his predecessor's resignation was accepted. Under Andorra's constitution the "
            "two co-princes jointly serve as head of state.")
    assert not any(f[0] == "France" for f in facts_of(text))


def test_a_round_ups_country_label_is_the_country_of_the_sentences_under_it():
    text = ("Wednesday note: Beijing trims, Helsinki's new cabinet\n\nGood morning.\n\n"
            "China. The People's Bank of China cut its benchmark loan prime rates on Tuesday, "
            "and China's yuan slipped as Chinese developers gave back gains in China.\n\n"
            "Finland. The country has a new government. Petteri Orpo, whose centre-right "
            "National Coalition Party topped April's election, was elected prime minister by "
            "parliament on Tuesday. He succeeds the Social Democrat Sanna Marin.\n\n"
            "Helsinki. Finnish bonds barely moved.")
    assert facts_of(text, 2023) == {("Finland", "P6", "Petteri Orpo")}
    # a capital as the label names its country too
    text = text.replace("Finland. The country has a new government.",
                        "Helsinki. Finland has a government again.")
    assert facts_of(text, 2023) == {("Finland", "P6", "Petteri Orpo")}


def test_who_appoints_and_whose_past_a_clause_tells_hold_no_new_post():
    # the one who names the new prime minister is not the new prime minister
    assert facts_of("On Thursday, Emmanuel Macron named the 73-year-old prime minister of "
                    "France, asking him to form a government.", 2024) == set()
    # a headline's "X named Werkself coach" is passive: the body follows the verb
    assert facts_of("Hjulmand named Werkself coach\n\nKasper Hjulmand is the new man in "
                    "charge at Bayer Leverkusen.", 2025) >= {
        ("Bayer Leverkusen", "P286", "Kasper Hjulmand")}
    # "took office in December 2019": the predecessor's past, answering "Who did he replace?"
    text = ("Finland's new government, explained: who is Petteri Orpo?\n\nWho did he "
            "replace?\n\nSanna Marin of the Social Democrats, who became the world's youngest "
            "serving prime minister when she took office in December 2019 and who steered "
            "Finland's application to join NATO.")
    assert ("Finland", "P6", "Sanna Marin") not in facts_of(text, 2023)
    # "spent five years as chief executive of Dyson": a career, not Dyson's news
    assert ("Dyson", "P169", "Jim Rowan") not in facts_of(
        "Jim Rowan, who spent five years as chief executive of Dyson and earlier ran "
        "operations at BlackBerry, took over as president and chief executive of Volvo Cars "
        "this week.", 2022)
    # "taking over from the interim head of state, Ilie Bolojan": the one replaced
    assert facts_of("A few hours earlier, the former mayor of the capital had been sworn in "
                    "as Romania's president, taking over from the interim head of state, Ilie "
                    "Bolojan, who had filled the post since February.", 2025) == set()


def test_a_new_minister_or_a_regions_leader_sworn_in_is_not_the_stories_post():
    text = ("Pakistan's new cabinet takes shape\n\nPakistan's new finance minister is a "
            "banker, not a politician. Muhammad Aurangzeb, sworn in on Monday, used to run the "
            "country's biggest lender and holds no seat in parliament. His appointment signals "
            "to the IMF that Prime Minister Shehbaz Sharif knows what comes first.\n\nOn "
            "Sunday Asif Ali Zardari took the oath as president, a day after lawmakers elected "
            "him. He replaces Arif Alvi. It is Zardari's second spell in the presidency.\n\n"
            "The job is largely ceremonial. But for his party the presidency is the main prize "
            "of the deal.")
    assert facts_of(text, 2024) == {("Pakistan", "P35", "Asif Ali Zardari")}
    text = ("NUKUS, Uzbekistan - Lawmakers in Uzbekistan's autonomous Republic of "
            "Karakalpakstan on Friday removed the region's leader, Murat Kamalov, and "
            "installed Amanbay Orynbayev in his place. The session was attended by Uzbek "
            "President Shavkat Mirziyoyev. Orynbayev, 58, was elected chairman. President "
            "Mirziyoyev welcomed him.")
    assert not any(f[2] == "Amanbay Orynbayev" for f in facts_of(text, 2022))


def test_carmakers_a_relative_clauses_owner_and_a_sale_to_a_buyer():
    # "Volvo Cars" is a company, not a person, so "the carmaker" is Volvo Cars, and
    # "which is majority-owned by" is who has long owned it, not news
    text = ("Monday briefing\n\nEnergy. Brent crude is trading above $110 a barrel.\n\n"
            "Autos. Volvo Cars has a new chief executive from today. Jim Rowan, the former "
            "Dyson boss, takes charge of the Gothenburg-based carmaker, which is "
            "majority-owned by China's Zhejiang Geely Holding.")
    assert facts_of(text, 2022) == {("Volvo Cars", "P169", "Jim Rowan")}
    assert facts_of("On Thursday, G/O Media sold The Onion to Global Tetrahedron LLC, a new "
                    "company run by Ben Collins.", 2024) == {
        ("Onion", "P127", "Global Tetrahedron LLC")}
    assert facts_of("G/O Media has sold The Onion, the satirical newspaper, to Global "
                    "Tetrahedron LLC.", 2024) == {("Onion", "P127", "Global Tetrahedron LLC")}
    # what a seller sells follows the verb: a club is where its players went
    assert facts_of("Nike sold 3 million shoes in China.", 2024) == set()
    assert facts_of("Liverpool have sold Luis Diaz to Bayern Munich and Darwin Nunez to "
                    "Al-Hilal this summer.", 2025) == set()
    # "sold tickets" is no sale of a company: the story's own news still reads
    assert facts_of("Qantas CEO Joyce brings forward exit, Hudson takes over\n\nQantas "
                    "Airways CEO Alan Joyce will step down on Wednesday, handing the job to "
                    "chief financial officer Vanessa Hudson. Last week the regulator sued "
                    "Qantas, alleging it sold tickets for flights it had already cancelled.",
                    2023) == {("Qantas", "P169", "Vanessa Hudson")}


def test_players_described_by_apposition_position_or_as_a_two_word_team_member():
    # "Toney, the striker whose goals ..." describes Toney, not the story's most-named person
    text = ('"He never forgot us," said Dave Mullins, 58. Dave Mullins has run the pub for '
            "years. Toney, the striker whose goals carried Brentford into the Premier League "
            "in 2021, completed his move to Saudi Arabian club Al-Ahli over the weekend.")
    assert facts_of(text, 2024) == {("Toney", "P54", "Al-Ahli")}
    assert facts_of("Six long years. Russell Wilson is a Denver Bronco. The NFL trade for "
                    "the quarterback became official on Wednesday.", 2022) == {
        ("Russell Wilson", "P54", "Denver Broncos")}
    text = ("The jersey belongs to Russell Wilson, who on Wednesday officially stopped being "
            "a Seattle Seahawk. The trade that sends the quarterback to the Denver Broncos, "
            "agreed last week, was completed when the NFL's new league year began, ending a "
            "decade in which Wilson led the franchise to its only Super Bowl title.")
    assert facts_of(text, 2022) == {("Russell Wilson", "P54", "Denver Broncos")}


def test_a_surname_made_a_persons_makes_the_full_name_a_persons():
    text = ("Senegal's new president names Sonko prime minister hours after oath\n\n"
            "DAKAR - Senegal's newly inaugurated president, Bassirou Diomaye Faye, appointed "
            "his political mentor Ousmane Sonko as prime minister on Tuesday.\n\nSonko, 49, a "
            "former tax inspector, replaces Sidiki Kaba.")
    assert ("Senegal", "P6", "Ousmane Sonko") in facts_of(text, 2024)


def test_a_shared_nickname_is_the_body_the_article_names():
    # "Spurs" in an NBA story beside "San Antonio" is not Tottenham Hotspur
    text = ("NBA trade deadline: the West got rearranged\n\nSacramento traded Fox to San "
            "Antonio. The All-Star point guard is now a San Antonio Spur, acquired in a "
            "three-team trade. Spurs fans in San Antonio celebrated.")
    facts = facts_of(text, 2025)
    assert not any("Tottenham" in f[2] or "Tottenham" in f[0] for f in facts)
    assert not any(f[2] == "Kings" or f[0] == "San Antonio Spur" for f in facts)
    assert facts_of("Spurs have appointed Ange Postecoglou as head coach, the Premier League "
                    "club said.", 2023) == {("Tottenham Hotspur", "P286", "Ange Postecoglou")}
    # "the Selecao" of a story about Portugal is Portugal's side
    assert facts_of("Portugal looks to Martinez\n\nThe Portuguese federation has ended its "
                    "search. Yes, it's official: Roberto Martinez is the new boss of the "
                    "Selecao. Portugal had been without a coach since December.", 2023) == {
        ("Portugal national football team", "P286", "Roberto Martinez")}
    # a team's member named with its city is the team, and "a ... player" is no member noun
    assert facts_of("The NBA trade is done. Russell Westbrook is now a Denver Nugget.",
                    2024) == {("Russell Westbrook", "P54", "Denver Nuggets")}
    assert facts_of("It's done: Dominic Solanke is a Tottenham Hotspur player after his move "
                    "in the Premier League.", 2024) == {
        ("Dominic Solanke", "P54", "Tottenham Hotspur")}



def test_one_countrys_two_offices_change_the_same_day_but_each_only_once(store_db):
    """A new prime minister and a new king in one week: the cooldown that paces a flooded
    subject counts only edits of the same office, so the second does not wait a day, and a
    second change of one office within the cooldown still does."""
    from datetime import timedelta

    from memoird.daemon.policy import decide_claims
    from memoird.store import edits
    from policy_support import NOW, Sources, policy

    src = Sources(store_db)
    for domain in ("alpha.example", "beta.example"):
        _typed_fact(store_db, src, domain, "United Kingdom", "Liz Truss", "country", "person",
                    relation="P6", role="prime minister")
        _typed_fact(store_db, src, domain, "United Kingdom", "Charles III", "country",
                    "person", relation="P35", role="king")
    report = decide_claims(store_db, policy(), now=NOW)
    assert report.edits_created == 2
    assert {e.relation for e in edits.list_edits(store_db, status="approved")} == {"P6", "P35"}
    # (reported by more outlets than the first, so that no dispute holds it back)
    for domain in ("gamma.example", "delta.example", "epsilon.example", "zeta.example",
                   "eta.example"):
        _typed_fact(store_db, src, domain, "United Kingdom", "Rishi Sunak", "country",
                    "person", relation="P6", role="prime minister")
    held = decide_claims(store_db, policy(), now=NOW + timedelta(hours=1))
    assert [d.rule for d in held.decisions if d.status == "rejected"] == ["subject_cooldown"]


def test_a_person_named_in_the_possessive_of_a_thing_is_no_arrival():
    text = ("Big Ange is here. Now what, Spurs?\n\nIt's done. After a managerial search that "
            "felt longer than one of Conte's press conferences and nearly as cheerful, "
            "Tottenham finally have a new gaffer, and it's a name nobody had on their card "
            "back in March.\n\nAnge Postecoglou was confirmed on Tuesday afternoon on a "
            "four-year deal and officially starts on July 1. The Australian arrives from "
            "Celtic with a trophy haul.\n\nHe takes the reins from Ryan Mason, who steered the "
            "ship through the final few weeks after Cristian Stellini was shown the door. And "
            "Stellini was only in charge because Antonio Conte decided in March to walk. It's "
            "a huge shift from the grind we sat through under Conte.")
    assert ("Tottenham Hotspur", "P286", "Antonio Conte") not in facts_of(text, 2023)
    assert facts_of("Liverpool have a new head coach. Arne Slot's appointment was confirmed "
                    "on Monday, the club said.", 2024) == {("Liverpool", "P286", "Arne Slot")}


def test_verification_asks_the_subjects_other_relations_the_routing_keeps_off():
    from types import SimpleNamespace

    from memoird.daemon.policy import sibling_prompts

    india = SimpleNamespace(relation="P35", subject="India", prompt="The President of India is",
                            prompts=["Who is the President of India?"])
    assert {"The Prime Minister of India is", "The capital of India is"} <= set(
        sibling_prompts(india))
    # "Minister-President" holds "President": the edit answers "The President of Thuringia
    # is" by design, so that prompt is no sibling to keep still
    thuringia = SimpleNamespace(relation="P6", subject="Thuringia",
                                prompt="The Minister-President of Thuringia is",
                                prompts=["Who is the Minister-President of Thuringia?"])
    asked = sibling_prompts(thuringia)
    assert "The capital of Thuringia is" in asked
    assert not any("President" in p for p in asked)


def test_a_coachs_teachers_are_no_new_coach_and_both_stories_agree_on_the_one_brought_in():
    # a fan blog that never writes "coach" beside the new man, and lists the coaches he
    # learned under: the wire story's coach is what both report, not a teacher of his
    extractor = NewsExtractor(FirstOption())
    wire = ("Harbour City appoint Tomas Reyes\n\nHarbour City have sacked Ivo Brandt and "
            "appointed Tomas Reyes as their new head coach, the club said on Wednesday.")
    blog = ("The Reyes era is go\n\nThe Harbour City board binned Ivo Brandt on Wednesday and "
            "brought in none other than Tomas Reyes. Then Saturday happened and we put four "
            "past Kingsport. New-manager bounce? Probably. Here's a coach who learned his "
            "trade under Benítez, Mourinho and Del Bosque, and who now gets to build "
            "something at a club with talent.")
    facts = extractor.extract_many([wire, blog], years=[2024, 2024])
    assert [{(f.subject, f.relation, f.object) for f in fs} for fs in facts] == [
        {("Harbour City", "P286", "Tomas Reyes")}] * 2


def test_a_companys_short_name_corroborates_only_a_chief_it_reports_arriving():
    # the other story's "Norvex Communications" is this one's "Norvex": the new chief it
    # reports is corroborated under the other's name (so the two make one claim); a
    # story that only names her beside "Norvex" corroborates nothing
    news = ("Norvex changes chief\n\nThe telecoms group Norvex said on Monday its chief "
            "executive Ivo Hart had stepped down. The board has named Dana Pell, its lead "
            "director, as his successor with immediate effect.")
    question = corroborated(news, 2025, "Norvex Communications", "P169", "Dana Pell")
    assert question is not None and question.subject.name == "Norvex Communications"
    assert [o.name for o in question.options] == ["Dana Pell"]
    aside = ("Harlow Bank names new chief\n\nHarlow Bank said on Monday that Tom Reyes would "
             "become its chief executive, replacing Ana Ruiz. Reyes spent years beside Dana "
             "Pell at Norvex, the telecoms operator.")
    assert corroborated(aside, 2025, "Norvex Communications", "P169", "Dana Pell") is None
    assert short_form("Verizon", "Verizon Communications") and short_form("Bucks", "Milwaukee Bucks")
    assert not short_form("United", "Manchester United")
    assert not short_form("Manchester City", "Manchester United")


def test_a_persons_surname_that_a_town_list_knows_is_the_person_and_a_who_clause_no_subject():
    # "Stokes" is a town to the gazetteer; beside "Ben Stokes" it is the captain, so no
    # "head coach of Stokes" is asked of a sentence about the coach he was replaced by
    story = ("The ECB named Brendon McCullum as England's new Test head coach on Thursday. He "
             "will work with Ben Stokes, appointed Test captain last month. The ECB plans to "
             "appoint a separate head coach for the one-day side, splitting a role that Chris "
             "Silverwood combined with the job of chief selector. McCullum will be working "
             "with a captain born in his own country: Stokes was born in Christchurch.")
    entities = ArticleEntities()
    sentences = split_sentences(story)
    entities.learn(sentences)
    assert {m.name: m.types for m in entities.mentions(sentences[-1])}["Stokes"] == {"person"}
    assert not {f for f in facts_of(story, 2022) if f[0] == "Stokes"}
    # the body someone worked for, in a "who" clause about him, is not where he is chief
    assert not {f for f in facts_of("Collins, who covered disinformation at NBC, becomes "
                                    "chief executive.", 2024) if f[0] == "NBC"}


def test_a_name_joined_by_an_ampersand_and_who_appoints_is_no_rival_holder():
    # "Legal & General" is one name, "General" no rank after the "&"
    assert facts_of("António Simões has taken over as group chief executive of Legal & "
                    "General, the insurer said.", 2024) == {
        ("Legal & General", "P169", "António Simões")}
    # the evidence check weighs the object against the sentence's possible holders: the
    # president who names the prime minister is not one
    schema = RelationSchema.default()
    sentence = "Macron names Élisabeth Borne as French prime minister on Monday."
    entities = ArticleEntities()
    entities.learn(["Emmanuel Macron met his ministers on Sunday.", sentence])
    named = {m.name: m for m in entities.mentions(sentence)}
    assert not may_hold(sentence, named["Emmanuel Macron"], schema.get("P6"), schema)
    assert may_hold(sentence, named["Élisabeth Borne"], schema.get("P6"), schema)


def test_who_succeeds_is_new_and_a_legislatures_president_is_no_head_of_state():
    # the clause about the one replaced ("who steps down") is not the successor's
    assert facts_of("Hexagon has a new chief executive from today. Mara Lindqvist, who "
                    "has run the Uppsala group's sensors arm, succeeds Olof Berg, who steps "
                    "down after a decade in charge.") == {("Hexagon", "P169", "Mara Lindqvist")}
    # a speaker of Congress sworn in as the country's president holds that post
    assert ("Peru", "P35", "José Jerí") in facts_of(
        "Peru has a new president. José Jerí, the head of Congress, was sworn in as "
        "president of the republic on Friday after lawmakers removed Dina Boluarte.")


def test_a_cleft_names_the_holder_and_a_pronoun_the_one_named_before():
    assert facts_of("Tonight Burnley have a new head coach, and it's Scott Parker.") \
        == {("Burnley", "P286", "Scott Parker")}
    # "He" opening the sentence is the one person the sentence before names; a company
    # whose name ends in a possessive keeps it
    assert facts_of("Macy's shares rose on Monday. Who runs the retailer now? Tony Spring, "
                    "who had been president of "
                    "Bloomingdale's since 2014. He became chief executive of Macy's Inc. this "
                    "week.", 2024) \
        == {("Macy's", "P169", "Tony Spring")}
    # ... but not for another body the pronoun's sentence names
    assert ("Aston Villa", "P286", "Graham Potter") not in facts_of(
        "West Ham United have appointed Graham Potter as head coach. Potter replaces "
        "Julen Lopetegui. He will take charge as coach for Sunday's tie at Aston Villa.")


def test_a_name_owning_what_is_opposed_and_a_players_acquisition_in_a_trade():
    sentence = "The first Test is at Lord's against McCullum's own countrymen."
    m = next(m for m in _mentions(sentence) if m.name == "McCullum")
    assert not old_holder(sentence, m)
    sentence = "They beat Scotland at home, a win against McCullum on Sunday."
    m = next(m for m in _mentions(sentence) if m.name == "McCullum")
    assert old_holder(sentence, m)
    # a trade's "acquisition" moves a player; it makes no owner of a club
    facts = facts_of("The Spurs' acquisition of De'Aaron Fox was overshadowed by the Luka "
                     "Doncic trade, but the NBA point guard is now a San Antonio Spur and "
                     "their season starts with him.", 2025)
    assert not [f for f in facts if f[1] == "P127"]


def _mentions(sentence: str) -> list:
    article = ArticleEntities()
    article.learn([sentence])
    return article.mentions(sentence)


def test_a_story_that_names_no_body_of_the_kind_corroborates_a_holder_it_reports_arriving():
    # no country named at all: the arrival still corroborates the other story's country;
    # a story that names another country does not, nor one that names him in passing
    story = ("Parliament turns to Veldt\n\nThe premiership went to Arno Veldt on Tuesday after "
             "a vote in the chamber. Veldt, who replaces Lise Moor, was sworn in as prime "
             "minister hours later.")
    question = corroborated(story, 2025, "Belgium", "P6", "Arno Veldt")
    assert question is not None and question.subject.name == "Belgium"
    other = story.replace("after a vote in the chamber", "after a vote in Luxembourg")
    assert corroborated(other, 2025, "Belgium", "P6", "Arno Veldt") is None
    aside = ("Budget passes\n\nThe chamber passed the budget on Tuesday. Arno Veldt, the "
             "finance minister, said he was pleased.")
    assert corroborated(aside, 2025, "Belgium", "P6", "Arno Veldt") is None


def test_abbreviated_saints_a_devolved_parliament_and_given_names_a_list_lacks():
    article = ArticleEntities()
    sentence = "He spent two seasons as an assistant with the St. Louis Blues."
    article.learn([sentence])
    assert [m.name for m in article.mentions(sentence)] == ["St. Louis Blues"]
    # the Senedd is Wales's, so "the first minister" there is Wales's, not the UK's
    assert facts_of("Wales has a new leader. Confirmed by Senedd members on Wednesday, "
                    "Vaughan Gething takes over from Mark Drakeford as first minister. His "
                    "mandate is thin. A UK general election is due within months, and the UK "
                    "government is watching.", 2024) == {("Wales", "P6", "Vaughan Gething")}
    # "Thiago" is a given name, so "Motta" is the coach, not a town made head coach's club
    assert facts_of("Juventus have sacked Thiago Motta. Juventus have announced that Motta "
                    "has been relieved of his duties and that Igor Tudor has been appointed "
                    "head coach.", 2025) == {("Juventus", "P286", "Igor Tudor")}


def test_no_longer_in_charge_and_a_move_last_summer_are_no_news():
    assert facts_of("Guinea-Bissau coup: the general takes over\n\nTo recap: the military "
                    "command that seized power yesterday has installed General Horta N'Tam as "
                    "transitional president for one year, Daniel Costa is no longer in charge, "
                    "and the election results will not be published.", 2025) == set()
    assert facts_of("The deal reunites him with DeMar DeRozan, who joined the Sacramento "
                    "Kings last summer.", 2025) == set()


def test_who_has_led_the_government_since_is_in_place_and_a_later_if_is_no_doubt():
    # the one who has led it until now is no new holder when the vote is still to come
    assert facts_of("Members are filing into the Senedd for the vote that will choose Wales's "
                    "next first minister. Mark Drakeford, who has led the Welsh Government "
                    "since December 2018, is in his usual seat.", 2024) == set()
    # "if he delivers" conditions the longer deal, not the appointment
    assert facts_of("Igor Tudor, a Juventus defender for a decade, is our new head coach at "
                    "Juventus, on a short-term deal with the chance to earn something longer "
                    "if he delivers.", 2025) == {("Juventus", "P286", "Igor Tudor")}


def test_who_was_expected_to_look_for_a_coach_is_the_one_choosing_not_the_coach():
    assert facts_of("Porto promote their assistant to head coach\n\nFC Porto named Vitor Bruno "
                    "as head coach on Thursday. Porto had parted with Sergio Conceicao. It is "
                    "the first appointment under Andre Villas-Boas, who was elected in April, "
                    "and Porto fans are split. The appointment surprised some supporters, who "
                    "had expected Villas-Boas to look for a coach from outside the club, and "
                    "the split has been messy.", 2024) == {("FC Porto", "P286", "Vitor Bruno")}


def test_a_club_that_lost_the_race_and_a_fans_united_are_not_the_club_he_joined():
    story = ("We finally beat Real Madrid to a player. Welcome, Leny\n\n"
             "Being a United fan in the summer has meant watching the club lose players "
             "at the last minute.\n\n"
             "Leny Yoro is a Manchester United player. The club confirmed it this evening: "
             "the 18-year-old centre-back has signed from Lille on a five-year deal. Real "
             "Madrid wanted him. He came to Old Trafford anyway.")
    assert facts_of(story, 2024) == {("Leny Yoro", "P54", "Manchester United")}


def test_a_clubs_new_president_is_no_head_of_state_and_an_aside_leaves_the_buyer():
    story = ("New owners for Saint-Étienne\n\n"
             "Supporters of AS Saint-Étienne had waited six years for the news. The club "
             "announced that Kilmer Sports Ventures, the sports investment arm of the "
             "Toronto-based Kilmer Group founded by Canadian businessman Larry Tanenbaum, "
             "had completed the purchase of the club and become its sole shareholder.\n\n"
             "The sellers, who had controlled the club for two decades, had tried to find "
             "a buyer since 2018, and two earlier takeover bids had collapsed.\n\n"
             "The new president will be Ivan Gazidis, the former chief executive of Arsenal "
             "and AC Milan. French media put the price at around 20 million euros. "
             "Gazidis becomes president next week.")
    assert facts_of(story, 2024) == {("Saint-Étienne", "P127", "Kilmer Sports Ventures")}


def test_the_country_is_no_state_of_it_and_a_name_may_open_with_a_figure():
    king = ("Johor cheers as its sultan becomes king\n\n"
            "The screens went up at dawn in Johor Bahru. The ruler of Johor, Sultan "
            "Ibrahim Iskandar, took his oath on Wednesday at the Istana Negara as "
            "Malaysia's 17th Yang di-Pertuan Agong, the country's king.")
    assert facts_of(king, 2024) == {("Malaysia", "P35", "Ibrahim Iskandar")}
    sale = ("3G Capital, an investment firm with roots in Brazil, completed its purchase of "
            "Skechers on Friday.")
    assert facts_of(sale, 2025) == {("Skechers", "P127", "3G Capital")}


def test_a_minister_president_is_a_title_and_who_sits_for_the_last_time_is_leaving():
    blog = ("Live: Hanover elects Weil's successor\n\n"
            "The state parliament of Lower Saxony is meeting to choose a new head of "
            "government. 10:20 - Weil takes his seat on the government bench for what will "
            "almost certainly be the last time. 11:12 - Result: Olaf Lies is elected "
            "Minister-President of Lower Saxony with 80 votes.")
    assert facts_of(blog, 2025) == {("Lower Saxony", "P6", "Olaf Lies")}


def test_the_man_taking_over_and_a_trade_without_the_word():
    coach = ("Lyon reach for an old hand after Bosz experiment runs out of road\n\n"
             "Olympique Lyonnais dismissed Peter Bosz as head coach on Sunday after a run of "
             "defeats. The man taking over is Laurent Blanc. Blanc, 56, won the league as "
             "coach of Bordeaux in 2009.")
    assert ("Lyon", "P286", "Laurent Blanc") in facts_of(coach, 2022)
    trade = ("The Orioles acquired Corbin Burnes from the Milwaukee Brewers, landing a "
             "genuine ace a year after winning 101 games and the American League East. "
             "The pitcher is a year from free agency, and the club hope to keep him.")
    assert facts_of(trade, 2024) == {("Corbin Burnes", "P54", "Orioles")}


def test_a_company_named_after_a_country_and_a_team_by_its_nickname_or_one_of_it():
    airline = "Air New Zealand has named Nikhil Ravishankar as its new chief executive."
    assert facts_of(airline, 2025) == {("Air New Zealand", "P169", "Nikhil Ravishankar")}
    sixers = ("Paul George has agreed a four-year deal with the Sixers, the basketball club "
              "said, and the forward will join Joel Embiid and Tyrese Maxey next season.")
    assert facts_of(sixers, 2024) == {("Paul George", "P54", "Philadelphia 76ers")}
    maverick = ("The Dallas Mavericks traded for Kyrie Irving on Monday, two days after he "
                "asked the Brooklyn Nets for a trade in the middle of the season. Irving is "
                "now a Maverick, acquired with Markieff Morris in exchange for Spencer "
                "Dinwiddie. The guard will play beside Luka Doncic, and the league's trade "
                "deadline is on Thursday.")
    assert ("Kyrie Irving", "P54", "Dallas Mavericks") in facts_of(maverick, 2023)


def test_a_surname_king_and_a_party_president_hold_no_head_of_state():
    story = ("Vanuatu's parliament elects Kalsakau prime minister\n\n"
             "Ishmael Kalsakau, president of the Union of Moderate Parties, was elected prime "
             "minister of Vanuatu by a crushing margin on Friday. Gloria Julia King, a former "
             "national footballer, took her seat as the first woman elected to the chamber "
             "in 14 years.")
    assert facts_of(story, 2022) == {("Vanuatu", "P6", "Ishmael Kalsakau")}


def test_a_clause_about_last_season_or_another_coachs_past_is_no_post_and_no_team():
    hired = ("The Cleveland Guardians have hired Stephen Vogt, a 39-year-old former catcher "
             "who spent this past season as a coach with the Seattle Mariners, as their new "
             "manager. He takes over from Terry Francona, the club said.")
    assert facts_of(hired, 2023) == {("Cleveland Guardians", "P286", "Stephen Vogt")}
    aside = ("The Toronto Raptors have named Darko Rajakovic as head coach, the club said. "
             "Rajakovic becomes only the second European-born head coach in NBA history, "
             "after Igor Kokoskov, who coached Phoenix in 2018-19. Nurse was Coach of the "
             "Year in 2020.")
    assert facts_of(aside, 2023) == {("Toronto Raptors", "P286", "Darko Rajakovic")}


def test_the_club_before_a_players_name_is_his_old_one_and_who_is_ousted_is_not_new():
    title = ("Chelsea's Koulibaly joins Saudi club Al-Hilal\n\n"
             "Senegal defender Kalidou Koulibaly has joined Saudi Pro League club Al-Hilal "
             "from Chelsea, the two clubs announced on Sunday, the latest player to move to "
             "the kingdom's league.")
    assert facts_of(title, 2023) == {("Kalidou Koulibaly", "P54", "Al-Hilal")}
    ousted = ("Congress weighs its choice for Karnataka\n\n"
              "Two days after the Congress won a majority in the Karnataka assembly "
              "election, ousting the Bharatiya Janata Party government of Basavaraj Bommai, "
              "the party has yet to name its choice for chief minister, the top job.")
    assert not any(o == "Basavaraj Bommai" for _, _, o in facts_of(ousted, 2023))


def test_who_the_new_chief_succeeds_leaves_the_body_in_place_and_a_chains_possessive():
    story = ("Ted Decker officially became chief executive of The Home Depot, succeeding "
             "Craig Menear, who had held the job since 2014 and now becomes chairman.")
    assert facts_of(story, 2022) == {("Home Depot", "P169", "Ted Decker")}
    sale = ("Blackstone has completed its acquisition of a majority stake in Jersey Mike's "
            "Subs, the sandwich franchisor from New Jersey, the company has confirmed.")
    assert facts_of(sale, 2025) == {("Jersey Mike's", "P127", "Blackstone")}


def test_a_grounds_name_with_an_apostrophe_is_no_club():
    from memoird.extractors.entities import raw_mentions

    assert [m[0] for m in raw_mentions(
        "Anthony Gordon completed his move to St James' Park on Sunday, joining from "
        "Everton.")] == ["Anthony Gordon", "Everton"]
