"""A small hand-written workspace covering what the dataset builder must handle."""
from __future__ import annotations

from ingest.datasets.build import WorkspaceSnapshot
from ingest.datasets.records import Channel, Msg, Person

T0 = 1_767_000_000.0  # a fixed start time: builds must be deterministic
PEOPLE = [Person("U1", "ana", "Ana", "Product Designer"), Person("U2", "ben", "Ben", "IT Support"),
          Person("U3", "cem", "Cem", "Backend Engineer"), Person("U4", "dora", "Dora", "Sales"),
          Person("UB", "remindbot", "Reminder", None, is_bot=True)]
NAMES = {p.user_id: p.label for p in PEOPLE}
HELP = Channel("C1", "help", "public")
ENG = Channel("C2", "engineering", "public")
BOTS = Channel("C3", "alerts", "public")
SECRET = Channel("G1", "leadership", "private")
DM = Channel("D1", "D1", "dm")


def msg(ch: Channel, minutes: float, user: str, text: str, *, thread: float | None = None,
        reactions: dict | None = None, raw: str | None = None, **kw) -> Msg:
    ts = f"{T0 + minutes * 60:.6f}"
    thread_ts = f"{T0 + thread * 60:.6f}" if thread is not None else None
    return Msg(channel_id=ch.channel_id, ts=ts, user_id=user, text=text, thread_ts=thread_ts,
               user_name=NAMES.get(user), reactions=reactions or {}, raw_text=raw if raw is not None else text,
               permalink=f"https://acme.slack.com/archives/{ch.channel_id}/p{ts.replace('.', '')}",
               is_bot=(user == "UB"), **kw)


def help_channel() -> list[Msg]:
    m = []
    # resolved thread: the answer got a check mark and the asker thanked
    m += [msg(HELP, 0, "U1", "How do I reset my VPN password? The portal says my token expired.", thread=0),
          msg(HELP, 3, "U2", "Go to vpn.acme.example/reset, sign in with SSO and pick 'new token'. Mail "
                             "ben.it@acme.example if the page errors.", thread=0,
              reactions={"white_check_mark": ["U1"]}),
          msg(HELP, 5, "U1", "thanks, that worked!", thread=0)]
    # clarifying question first, then the real answer
    m += [msg(HELP, 60, "U4", "Which printer driver do I need for the second floor printer?", thread=60),
          msg(HELP, 62, "U2", "Which OS are you on?", thread=60),
          msg(HELP, 63, "U4", "macOS Sonoma", thread=60),
          msg(HELP, 66, "U2", "Use the generic PostScript driver, the printer is called floor2-ps in the list. "
                              "Add it from System Settings, Printers.", thread=60, reactions={"+1": ["U4"]}),
          msg(HELP, 67, "U4", "perfect, thank you", thread=60)]
    # unanswered question (no reply at all)
    m += [msg(HELP, 120, "U3", "Does anyone know when the new office furniture arrives?")]
    # greetings-only thread
    m += [msg(HELP, 180, "U1", "Good morning everyone :sunny:", thread=180),
          msg(HELP, 181, "U2", "morning!", thread=180), msg(HELP, 182, "U3", "hi :wave:", thread=180)]
    # German question and answer
    m += [msg(HELP, 240, "U4", "Wie beantrage ich Urlaub für die Woche nach Ostern? Ich finde das Formular nicht.",
              thread=240),
          msg(HELP, 243, "U2", "Im Personalportal unter Abwesenheiten auf Antrag stellen klicken, dann genehmigt "
                               "deine Führungskraft den Antrag.", thread=240, reactions={"white_check_mark": ["U4"]})]
    # code-only answer
    m += [msg(HELP, 300, "U1", "How do I list the docker volumes that take the most disk space?", thread=300),
          msg(HELP, 302, "U3", "```\ndocker system df -v | sort -k3 -h | tail -n 20\n```", thread=300,
              reactions={"white_check_mark": ["U1"]})]
    # enormous thread: 70 messages over two days, with a long silence in the middle
    m += [msg(HELP, 400, "U3", "Long running discussion: how should we shard the telemetry database?", thread=400)]
    for i in range(1, 70):
        when = 400 + i * 2 + (1440 if i >= 35 else 0)
        who = "U1" if i % 2 else "U3"
        m.append(msg(HELP, when, who, f"shard idea number {i}: split telemetry rows by robot id bucket {i % 7} "
                                      f"and keep retention at {i} days", thread=400))
    # a bot message inside a thread: ignored
    m += [msg(HELP, 5000, "UB", "Reminder: fill in your timesheet", filtered="bot")]
    return m


def eng_channel() -> list[Msg]:
    """Two interleaved, un-threaded conversations (truth in ENG_TRUTH)."""
    return [
        msg(ENG, 0, "U3", "anyone else seeing test_route_planner fail randomly on CI?"),
        msg(ENG, 1, "U1", "my docker build dies with no space left on device, but df shows 40G free?"),
        msg(ENG, 3, "U2", "@Cem yes, the route planner test is seeded from wall clock time, ticket ROB-812",
            raw="<@U3> yes, the route planner test is seeded from wall clock time, ticket ROB-812"),
        msg(ENG, 4, "U4", "@Ana docker data root is on /var which is a small partition: run docker builder prune",
            raw="<@U1> docker data root is on /var which is a small partition: run docker builder prune"),
        msg(ENG, 5, "U3", "can we pin the seed for the route planner test in conftest?"),
        msg(ENG, 6, "U1", "builder cache was 31GB, pruned it, the docker build works now. thanks Dora!"),
        msg(ENG, 8, "U2", "@Cem yes, I'll add random.seed(1234) in a fixture for the planner test",
            raw="<@U3> yes, I'll add random.seed(1234) in a fixture for the planner test"),
    ]


ENG_TRUTH = [0, 1, 0, 1, 0, 1, 0]


def bots_channel() -> list[Msg]:
    return [msg(BOTS, i, "UB", f"Deploy {i} finished", filtered="bot") for i in range(5)]


def private_messages() -> list[Msg]:
    return [msg(SECRET, 0, "U4", "What is the budget for Project Falcon next quarter?", thread=0),
            msg(SECRET, 2, "U3", "Project Falcon gets 2.4M for the acquisition, keep it in this channel", thread=0,
                reactions={"white_check_mark": ["U4"]}),
            msg(DM, 0, "U1", "Can you send me the salary sheet for my team?", thread=0),
            msg(DM, 1, "U2", "Sending the salary sheet now through the HR portal, check your inbox", thread=0,
                reactions={"+1": ["U1"]})]


def workspace() -> WorkspaceSnapshot:
    return WorkspaceSnapshot(channels=[HELP, ENG, BOTS, SECRET, DM], people=list(PEOPLE),
                    messages=help_channel() + eng_channel() + bots_channel() + private_messages(), source="test")
