"""Conversations of the fictional Acme Robotics Slack workspace, rendered by generate.py into a Slack export.

Times are Europe/Berlin wall-clock times in winter (UTC+1) written as "HH:MM"; generate.py converts them to
Slack ts strings. Answers in #hr-help quote handbook_content.py, so keep both in step.
"""
from __future__ import annotations

# key -> (user id, handle, real name, display name, title)
USERS: dict[str, tuple[str, str, str, str, str]] = {
    "lena": ("U0ACME001", "lena.fischer", "Lena Fischer", "Lena", "Head of People"),
    "tom": ("U0ACME002", "tom.becker", "Tom Becker", "Tom (People Ops)", "People Operations & Payroll"),
    "priya": ("U0ACME003", "priya.nair", "Priya Nair", "Priya", "Engineering Manager, Platform"),
    "jonas": ("U0ACME004", "jonas.weber", "Jonas Weber", "jonas", "Senior Backend Engineer"),
    "mei": ("U0ACME005", "mei.chen", "Mei Chen", "Mei", "Robotics Software Engineer"),
    "daniel": ("U0ACME006", "daniel.okafor", "Daniel Okafor", "Daniel O.", "Site Reliability Engineer"),
    "sofia": ("U0ACME007", "sofia.martins", "Sofia Martins", "Sofia", "Office Manager Lisbon"),
    "marco": ("U0ACME008", "marco.rossi", "Marco Rossi", "Marco (IT)", "IT Support"),
    "hannah": ("U0ACME009", "hannah.schmidt", "Hannah Schmidt", "Hannah", "CEO"),
    "ahmed": ("U0ACME010", "ahmed.karim", "Ahmed Karim", "Ahmed", "Product Designer"),
    "julia": ("U0ACME011", "julia.novak", "Julia Novak", "Julia", "Head of Sales"),
    "erik": ("U0ACME012", "erik.lindqvist", "Erik Lindqvist", "Erik", "Junior Firmware Engineer"),
}
BOT_USER = ("U0ACMEBOT", "acme-helper", "Acme Helper", "Acme Helper", "Reminder bot")
BOT_ID = "B0ACMEBOT"
CHANNEL_IDS = {"general": "C0ACMEGEN", "hr-help": "C0ACMEHRH", "engineering": "C0ACMEENG", "random": "C0ACMERND"}
PRIVATE_CHANNEL = ("G0ACMELDR", "leadership")
PRIVATE_MEMBERS = ["hannah", "priya", "lena", "julia"]
DM_ID = "D0ACME001"
DM_MEMBERS = ["lena", "tom"]

# ---------------------------------------------------------------- #hr-help: threads
# (day, time, asker, question, [(minutes after question, user, text[, {reaction: [users]}])], {reaction: [users]})
HR_THREADS: list[tuple] = [
    ("2026-01-05", "09:12", "erik", "Hi all! First week here :wave: How many vacation days do we get per year? My contract just says \"as per company policy\"", [
        (6, "lena", "Welcome Erik! Full-time is 25 days of paid annual leave per calendar year, plus public holidays. Since you started in January you get the full 25 for 2026."),
        (9, "erik", "amazing, thanks!"),
    ], {"white_check_mark": ["erik"]}),
    ("2026-01-05", "11:40", "erik", "Where do I actually request leave? I don't see anything in Slack", [
        (3, "jonas", "PeopleHub → Time Off → Request. Your manager gets a notification and approves it there"),
        (5, "erik", "found it, thank you :pray:"),
    ], {"+1": ["erik"]}),
    ("2026-01-07", "10:03", "ahmed", "Do unused vacation days from 2025 carry over? I still have 7 left :grimacing:", [
        (4, "julia", "I think you can take up to 10 days into the new year"),
        (22, "lena", "Small correction: it's up to 5 unused days, and they have to be taken by 31 March. Anything beyond 5 expired on 31 December unless I approved an exception in writing (e.g. after long sick leave or parental leave)."),
        (25, "julia", "oops, my bad — that was my old company :sweat_smile:"),
        (31, "ahmed", "ok, so 5 days until end of March. Booking them now, thanks Lena!"),
    ], {"white_check_mark": ["ahmed", "julia"]}),
    ("2026-01-08", "08:47", "daniel", "Good morning everyone :sunny:", [
        (2, "sofia", "Bom dia! :wave:"),
        (4, "mei", "morning!"),
    ], {"wave": ["mei", "sofia"]}),
    ("2026-01-08", "14:20", "mei", "What's the daily meal allowance when travelling for work? Going to the Hamburg customer site next week", [
        (11, "tom", "Up to €50 per day for meals on business travel. Breakfast that's included in the hotel doesn't count towards it. Submit the receipts in Spendly."),
        (13, "mei", "perfect, thanks Tom"),
    ], {"white_check_mark": ["mei"]}),
    ("2026-01-09", "09:55", "jonas", "How long do I have to submit receipts in Spendly? I found a stack from November in my backpack...", [
        (7, "tom", "Officially within 30 days of the expense. For older ones your manager needs to approve in writing — ping Priya, attach her OK as a comment in Spendly and I'll push them through."),
        (8, "jonas", ":pray: will do"),
    ], {"+1": ["jonas"]}),
    ("2026-01-12", "10:31", "erik", "Which laptops can we choose from? IT asked me to pick one and I'm torn", [
        (5, "marco", "MacBook Pro 14\" or Lenovo ThinkPad X1 Carbon (Linux or Windows). Most firmware folks go with the ThinkPad + Ubuntu because of the flashing tools, but both work."),
        (9, "erik", "ThinkPad it is. Thanks Marco!"),
    ], {"white_check_mark": ["erik"]}),
    ("2026-01-12", "15:02", "ahmed", "Is there a budget for home office stuff? My chair is killing my back", [
        (6, "lena", "Yes — one-off home-office budget of €400 for monitor, chair, keyboard, headset etc. Buy it yourself and submit the receipt in Spendly with the category \"Home office\". Whatever you buy with it is yours to keep."),
        (8, "ahmed", "oh nice, ordering a proper chair today"),
        (40, "daniel", "pro tip: the chairs at the Berlin office were sold off cheaply last year, ask reception if any are left"),
    ], {"white_check_mark": ["ahmed"]}),
    ("2026-01-13", "09:20", "julia", "When does salary come in? New bank, want to make sure I don't miss rent", [
        (12, "tom", "Salaries are paid on the last working day of each month. If you change your bank details, enter them in PeopleHub by the 15th so they apply the same month."),
        (14, "julia", "great, just updated it :white_check_mark:"),
    ], {"white_check_mark": ["julia"]}),
    ("2026-01-14", "11:11", "mei", "how many days can I work from home per week?", [
        (3, "priya", "Up to 3 days per week. Our team does office days on Tuesday and Thursday."),
        (4, "mei", "thanks!"),
    ], {"+1": ["mei"]}),
    ("2026-01-15", "16:45", "erik", "Is there any internet allowance for working from home?", [
        (8, "tom", "Yes, €30 per month remote-work stipend for everyone on a hybrid contract. It's paid automatically with your salary, no receipts needed."),
    ], {"white_check_mark": ["erik"]}),
    ("2026-01-16", "10:05", "daniel", "Can I work from Portugal for a few weeks in spring? Visiting family", [
        (15, "lena", "Sure, you can work from another country for up to 20 working days per year. Request it in PeopleHub under \"Work abroad\" at least 2 weeks in advance so we can check the tax and social-security side."),
        (17, "daniel", "20 days is plenty, thanks!"),
        (18, "sofia", "and if you come by Lisbon, the office has free desks :smile:"),
    ], {"white_check_mark": ["daniel"]}),
    ("2026-01-19", "08:58", "jonas", "I'm sick today (flu). Do I need a doctor's note straight away?", [
        (10, "tom", "Get well soon! Just tell Priya before 10:00 and log it in PeopleHub as sick leave. A doctor's certificate is only needed from the 4th calendar day — in Germany the eAU comes to us automatically from your insurer."),
        (12, "jonas", "thx :face_with_thermometer:"),
    ], {"white_check_mark": ["jonas"]}),
    ("2026-01-20", "13:30", "ahmed", "When do payslips show up? I need January's for a flat application", [
        (9, "tom", "On the 25th of each month in PeopleHub under Documents → Payslips."),
        (10, "ahmed", "perfect"),
    ], {"+1": ["ahmed"]}),
    ("2026-01-21", "10:12", "erik", "What's the parental leave policy? (asking for planning reasons, no announcement yet :shushing_face:)", [
        (14, "lena", "Congrats in advance if it applies :slightly_smiling_face: Primary caregivers get 16 weeks of parental leave at full pay, secondary caregivers 4 weeks at full pay. Details in the Benefits and Family Leave PDF. Please let us know at least 8 weeks before the leave starts."),
        (17, "erik", "super helpful, thanks Lena"),
    ], {"white_check_mark": ["erik"], "heart": ["sofia"]}),
    ("2026-01-22", "14:48", "mei", "Do we have a training/conference budget? PyCon DE tickets are on sale", [
        (5, "priya", "Yes! €1,000 per year learning budget plus 3 learning days. Book through Tripwise and put the ticket in Spendly under \"Learning\"."),
        (7, "mei", "yay, booking it"),
    ], {"white_check_mark": ["mei"]}),
    ("2026-01-26", "09:35", "julia", "How do I book a flight for the Madrid trade fair? Just use my own card and expense it?", [
        (6, "jonas", "I usually just book on the airline site and expense it"),
        (20, "tom", "Please don't :sweat_smile: all business trips are booked in Tripwise (Google SSO login). Your manager approves the trip there first, then you book. Flights are economy; premium economy only for flights over 6 hours."),
        (23, "jonas", "TIL. sorry Tom"),
        (25, "julia", "Tripwise, got it :ok_hand:"),
    ], {"white_check_mark": ["julia"]}),
    ("2026-01-27", "11:22", "daniel", "What's the hotel limit per night? Conference hotel in London is €240", [
        (13, "tom", "€180 per night normally, €220 in London, Paris, Zurich and New York. For €240 ask your manager to approve the difference in Tripwise — usually fine for conference hotels."),
        (15, "daniel", "makes sense, thanks"),
    ], {"+1": ["daniel"]}),
    ("2026-01-28", "17:05", "ahmed", "hello :wave:", [
        (3, "lena", "Hi Ahmed! Anything we can help with?"),
        (9, "ahmed", "oops, wrong channel, sorry :see_no_evil:"),
    ], {}),
    ("2026-02-02", "09:40", "erik", "Who do I talk to if I lose my badge? Asking for a friend... the friend is me", [
        (5, "sofia", "For Berlin it's reception on the 3rd floor, they issue a temporary one right away. In Lisbon come to me."),
        (6, "erik", ":joy: thanks"),
    ], {"white_check_mark": ["erik"]}),
    ("2026-02-03", "10:15", "mei", "Is the company pension worth it? What does Acme contribute?", [
        (12, "lena", "Acme matches your own contribution one to one, up to 4% of your gross salary. You can enrol anytime in PeopleHub under Benefits; it starts on the 1st of the following month."),
        (15, "mei", "free money then, enrolling :moneybag:"),
    ], {"white_check_mark": ["mei"]}),
    ("2026-02-04", "15:30", "jonas", "Does Acme do bike leasing?", [
        (8, "tom", "In Germany yes, through Bikely by salary conversion. Acme pays the insurance. One bike per person at a time."),
    ], {"+1": ["jonas"]}),
    ("2026-02-05", "12:02", "daniel", "Quick check: what's the on-call stipend these days?", [
        (4, "priya", "€300 per on-call week, paid with the next payroll. Plus one day off in lieu if you get paged between 22:00 and 07:00."),
        (6, "daniel", "thanks, wanted to double check before I swap with Jonas"),
    ], {"white_check_mark": ["daniel"]}),
    ("2026-02-06", "09:18", "erik", "How long is probation?", [
        (3, "lena", "6 months, with check-ins after 1, 3 and 5 months."),
    ], {"white_check_mark": ["erik"]}),
    ("2026-02-09", "14:00", "ahmed", "Is there any gym discount?", [
        (7, "sofia", "FitPass! Acme subsidises €30 per month. Sign up with your company e-mail and the subsidy is applied automatically."),
        (9, "ahmed", "nice, didn't know that"),
    ], {"white_check_mark": ["ahmed"]}),
    ("2026-02-10", "10:44", "julia", "I referred a friend for the sales engineer role — is there a referral bonus?", [
        (18, "lena", "Yes, €2,000, paid after they pass probation. (Hiring managers and the People team aren't eligible, which doesn't apply to you here.)"),
        (19, "julia", ":tada: thanks"),
    ], {"white_check_mark": ["julia"]}),
    ("2026-02-11", "16:20", "mei", "Can I expense a taxi home after the late robot demo tonight?", [
        (5, "tom", "Yes, taxis are fine after 22:00 or when you're carrying equipment. Put it in Spendly as usual."),
        (6, "mei", "both apply :robot_face: thanks"),
    ], {"+1": ["mei"]}),
    ("2026-02-12", "11:05", "daniel", "Do I need approval before buying a €650 oscilloscope probe kit for the lab?", [
        (10, "priya", "Yes, anything above €500 needs manager approval before you spend the money. Approved — go ahead, add this thread link in Spendly."),
        (11, "daniel", ":pray:"),
    ], {"white_check_mark": ["daniel"]}),
    ("2026-02-13", "09:10", "erik", "What happens if I get sick during my vacation? I'm in bed with a fever in Sweden :face_with_thermometer:", [
        (20, "tom", "Oh no, get well! If you have a doctor's certificate, the sick days are given back to you as leave. Upload it in PeopleHub and tell Priya."),
        (25, "erik", "ok great, will get one today"),
    ], {"white_check_mark": ["erik"]}),
    ("2026-02-16", "10:00", "ahmed", "Anyone know if dental is covered by our insurance?", [
        (30, "daniel", "I don't think we have any health insurance extras"),
        (52, "lena", "We do :slightly_smiling_face: The Medicura top-up policy covers dental care and glasses up to €300 every two years. Children are covered for free."),
        (55, "daniel", "huh, good to know. Booking a cleaning"),
        (56, "ahmed", "excellent, thanks Lena"),
    ], {"white_check_mark": ["ahmed"]}),
    ("2026-02-17", "13:45", "julia", "Does the learning budget roll over if I don't use it?", [
        (9, "lena", "No, the €1,000 resets each year and doesn't carry over."),
        (10, "julia", "ok, time to find a course then"),
    ], {"+1": ["julia"]}),
    ("2026-02-18", "09:25", "mei", "I'm moving flat next month. Is there any leave for that?", [
        (6, "lena", "Yes, 1 day of special leave for moving house per year. Request it in PeopleHub as \"Special leave – moving\"."),
    ], {"white_check_mark": ["mei"]}),
    ("2026-02-19", "17:30", "jonas", "My laptop is almost 3 years old and the battery is dying. When do we get a new one?", [
        (12, "marco", "Laptops are refreshed every 3 years — yours is on my list for March. If the battery gets worse before then, open a ticket at helpdesk@acme-robotics.example and I'll give you a loaner."),
        (14, "jonas", "perfect, March works"),
    ], {"white_check_mark": ["jonas"]}),
    ("2026-02-20", "12:12", "erik", "Is there a list of public holidays for Lisbon? Trying to plan a visit to the team there", [
        (15, "sofia", "It's on the Office Guide page in the handbook. The big ones in June are Portugal Day on 10 June and St Anthony's Day on 13 June — the city is wonderful but the office is closed :sardine:"),
        (16, "erik", "haha noted, I'll come for St Anthony's then"),
    ], {"white_check_mark": ["erik"]}),
    ("2026-02-23", "10:30", "daniel", "I got a weird email asking me to \"re-validate my PeopleHub password\". Phishing?", [
        (3, "marco", "Almost certainly. Don't click anything. Forward it to security@acme-robotics.example and post in #security — we have to hear about suspected incidents within 1 hour."),
        (5, "daniel", "forwarded :white_check_mark:"),
        (40, "marco", "Confirmed phishing, we've blocked the sender domain. Thanks for reporting fast!"),
    ], {"white_check_mark": ["daniel"], "shield": ["jonas"]}),
    ("2026-02-24", "14:14", "ahmed", "Which password manager are we supposed to use? I've been using my personal one", [
        (7, "marco", "VaultKey — it's the only approved place for work passwords. I'll send you an invite. Please move your work passwords over and delete them from the personal one."),
        (9, "ahmed", "will do, thanks"),
    ], {"white_check_mark": ["ahmed"]}),
    ("2026-02-25", "11:50", "julia", "Can I bring my partner on the health top-up insurance?", [
        (25, "tom", "Yes, partners can be added, but at your own cost (deducted from net salary). Children are free. Form is in PeopleHub → Benefits."),
    ], {"+1": ["julia"]}),
    ("2026-02-26", "09:05", "erik", "Do we get our birthday off?", [], {}),
    ("2026-02-26", "14:40", "ahmed", "Hi <@U0ACME002>, I have a new mobile number: +49 170 555 0199. And my private e-mail changed to ahmed.k.design@example.net. Can you update my records?", [
        (10, "tom", "Hi Ahmed — you can change both yourself in PeopleHub → Personal data, then it flows to payroll automatically. (And maybe don't post your number in a public channel :wink:)"),
        (12, "ahmed", "ah right, done. thanks!"),
    ], {"white_check_mark": ["ahmed"]}),
    ("2026-03-02", "10:20", "mei", "Does the 25 days include public holidays?", [
        (4, "jonas", "No, public holidays come on top"),
        (6, "lena", "Correct, 25 days on top of public holidays."),
        (7, "mei", "nice"),
    ], {"white_check_mark": ["mei"]}),
    ("2026-03-03", "16:00", "daniel", "Is there a way to get counselling through work? Asking quietly", [
        (11, "lena", "Yes — MindWell offers up to 6 confidential counselling sessions per year, free and anonymous. Nobody at Acme sees who uses it. DM me if you want the sign-up link."),
    ], {"heart": ["daniel"]}),
    ("2026-03-04", "09:45", "ahmed", "What's the deadline for using carried-over days again?", [
        (3, "tom", "31 March. After that they expire."),
        (5, "ahmed", "right, 4 weeks left. thanks!"),
    ], {"white_check_mark": ["ahmed"]}),
    ("2026-03-05", "13:00", "jonas", "For the Munich trip: train is 4h. Can I book 1st class?", [
        (9, "tom", "Yes — 1st class is allowed for train journeys longer than 3 hours. And train is the default for anything under 5 hours, so all good."),
        (10, "jonas", ":steam_locomotive: :tada:"),
    ], {"white_check_mark": ["jonas"]}),
    ("2026-03-09", "10:10", "erik", "I lost my phone on the U-Bahn yesterday evening, it has Slack and my MFA app on it :scream:", [
        (4, "marco", "Thanks for telling us — please always report lost devices within 24 hours. I'm wiping the work profile now. Come to the IT desk and we'll reset your MFA with a hardware key."),
        (30, "erik", "done, thanks Marco. Lesson learned"),
    ], {"white_check_mark": ["erik"]}),
    ("2026-03-10", "15:35", "mei", "When are salary reviews this year?", [
        (14, "lena", "Salary reviews are in April, and any changes take effect from 1 April."),
        (15, "mei", "thanks!"),
    ], {"white_check_mark": ["mei"]}),
    ("2026-03-11", "11:00", "julia", "What are the core hours? New hire in Lisbon asked me", [
        (2, "priya", "10:00–15:00 CET. Outside that everyone plans their own day."),
        (3, "sofia", "(so 09:00–14:00 Lisbon time for the Lisbon folks)"),
    ], {"+1": ["julia"]}),
    ("2026-03-12", "09:30", "daniel", "Does anyone know if we get extra days after 5 years? My Acme anniversary is in May :birthday:", [
        (18, "lena", "You do: 5 extra days of leave in the year of your 5-year anniversary. Congratulations in advance!"),
        (20, "daniel", ":tada: thanks Lena"),
    ], {"white_check_mark": ["daniel"]}),
    ("2026-03-16", "14:25", "erik", "Is it OK to keep customer log dumps on a USB stick to analyse at home?", [
        (6, "marco", "No, please don't. Customer data must never go on USB sticks or personal cloud storage. Use the analysis VM on staging (via WireGuard VPN)."),
        (8, "erik", "ok, deleting it. thanks"),
    ], {"white_check_mark": ["erik"]}),
    ("2026-03-17", "10:40", "ahmed", "Does anyone know whether the office is open on Easter Monday?", [
        (22, "sofia", "Berlin is closed on Easter Monday (6 April). Lisbon is open that day, but closed on Good Friday like Berlin."),
    ], {"white_check_mark": ["ahmed"]}),
    ("2026-03-18", "12:00", "jonas", "Where can I find the Acme logo in vector format for a conference slide?", [], {}),
    ("2026-03-19", "09:00", "mei", "Happy Thursday everyone :coffee:", [
        (5, "erik", ":coffee: :coffee:"),
    ], {"coffee": ["erik", "daniel"]}),
    ("2026-03-23", "16:10", "julia", "Can someone remind me how the SpeakUp form works? A new colleague asked and I want to get it right", [
        (12, "lena", "It's an anonymous form linked in PeopleHub. Only I and our external lawyer read it, and every report is investigated within 10 working days. People can also just talk to their manager or me directly."),
        (14, "julia", "thanks, that's exactly what I needed"),
    ], {"white_check_mark": ["julia"]}),
    ("2026-03-25", "11:30", "erik", "What's the policy on taking an unpaid sabbatical?", [
        (15, "lena", "After 2 years at Acme you can ask for up to 3 months of unpaid leave. Talk to your manager first, then to me."),
        (16, "erik", "ok, something for 2028 then :sweat_smile:"),
    ], {"+1": ["erik"]}),
    ("2026-04-01", "10:00", "daniel", "Is there a policy for gifts from suppliers? A vendor sent a pretty nice bottle of wine", [
        (20, "lena", "Gifts worth more than €50 have to be declared to your manager. If it's under that, enjoy :wine_glass:"),
    ], {"white_check_mark": ["daniel"]}),
    ("2026-04-02", "13:20", "ahmed", "Does anyone know when the new Lisbon office furniture arrives?", [], {}),
]

# ---------------------------------------------------------------- #engineering
# Threaded technical Q&A, same shape as HR_THREADS.
ENG_THREADS: list[tuple] = [
    ("2026-01-06", "10:20", "erik", "How do I get access to the staging robots? `ssh robot-07.staging` just times out", [
        (4, "daniel", "You need to be on the WireGuard VPN — staging is not reachable otherwise. Config is in VaultKey under \"wg-staging\". Then:\n```\nsudo wg-quick up wg-staging\nssh erik@robot-07.staging.acme.internal\n```"),
        (12, "erik", "works now, thanks!"),
    ], {"white_check_mark": ["erik"]}),
    ("2026-01-14", "15:10", "mei", "Has anyone seen `ROS2 QoS incompatibility` warnings between nav2 and our lidar driver after the Jazzy upgrade?", [
        (18, "jonas", "Yes, the driver publishes with `BEST_EFFORT` but nav2's costmap subscribes `RELIABLE`. Set this in `lidar_params.yaml`:\n```yaml\nqos_overrides:\n  /scan:\n    publisher:\n      reliability: reliable\n```"),
        (25, "mei", "that was it :raised_hands:"),
    ], {"white_check_mark": ["mei"]}),
    ("2026-02-10", "11:00", "priya", "Reminder: code freeze for release 4.2 is Thursday 18:00. Please get your PRs reviewed by Wednesday :pray:", [
        (30, "jonas", "the fleet-api migration PR is ready for review: <https://github.example/acme/fleet-api/pull/1288|fleet-api#1288>"),
    ], {"eyes": ["daniel", "mei"]}),
    ("2026-03-03", "10:05", "daniel", "Postmortem for Sunday's map-server outage is up: disk filled with rosbag recordings. Action item: retention policy of 7 days on `/var/rosbags`. Comments welcome in the thread", [
        (45, "priya", "Thanks Daniel. Let's also alert at 80% disk on all map-server nodes."),
        (50, "daniel", "added to the action items"),
    ], {"+1": ["priya", "jonas"]}),
]

# Un-threaded conversations posted straight into the channel and interleaved with each other, as people really
# do. One session = one busy stretch of a day; every message names the conversation it belongs to so that
# generate.py can write the gold disentanglement labels.
# (day, [(time, conversation key, user, text)])
ENG_SESSIONS: list[tuple[str, list[tuple[str, str, str, str]]]] = [
    ("2026-01-20", [
        ("10:02", "pytest-flaky", "jonas", "anyone else seeing `test_route_planner` fail randomly on CI?"),
        ("10:03", "docker-disk", "erik", "my docker build dies with `no space left on device`, but df says I have 40G free?"),
        ("10:05", "pytest-flaky", "mei", "yes, it's seeded from wall-clock time. there's a ticket, ROB-812"),
        ("10:06", "docker-disk", "daniel", "<@U0ACME012> docker's data root is probably on /var which is a separate small partition. `docker system df` and then `docker builder prune -af`"),
        ("10:07", "pytest-flaky", "jonas", "ah. can we just pin the seed in conftest?"),
        ("10:09", "docker-disk", "erik", "builder cache was 31GB :exploding_head: pruned, building again"),
        ("10:10", "pytest-flaky", "mei", "yep, I'll add `random.seed(1234)` in a fixture and push"),
        ("10:14", "docker-disk", "erik", "works, thanks Daniel!"),
    ]),
    ("2026-01-29", [
        ("14:30", "pg-timeout", "jonas", "fleet-api is throwing `canceling statement due to statement timeout` on the /missions endpoint since this morning"),
        ("14:31", "figma-tokens", "ahmed", "who owns the design tokens export to the operator UI? colours are off in staging"),
        ("14:33", "pg-timeout", "daniel", "there's a new seq scan on missions — the index on `(robot_id, created_at)` got dropped in yesterday's migration"),
        ("14:34", "figma-tokens", "mei", "<@U0ACME010> that's the `ui-tokens` job in CI, it runs on merge to main. I think it failed last night"),
        ("14:36", "pg-timeout", "jonas", "ugh, the migration used `drop_index` for the old name. fixing with `CREATE INDEX CONCURRENTLY ix_missions_robot_created ON missions (robot_id, created_at);`"),
        ("14:37", "figma-tokens", "ahmed", "re-ran it, colours are back. thanks!"),
        ("14:45", "pg-timeout", "daniel", "p95 on /missions back to 40 ms (&lt; 50 ms SLO) :chart_with_downwards_trend:"),
    ]),
    ("2026-02-16", [
        ("09:15", "git-lfs", "erik", "how do I pull the big firmware blobs? I only get pointer files"),
        ("09:16", "standup", "priya", "standup moved to 09:45 today, I'm stuck in a customer call"),
        ("09:17", "git-lfs", "jonas", "`git lfs install && git lfs pull` — LFS isn't enabled by default on new laptops"),
        ("09:18", "standup", "daniel", "ok :thumbsup:"),
        ("09:20", "git-lfs", "erik", "that did it, thx"),
    ]),
    ("2026-02-24", [
        ("11:00", "grpc-deadline", "mei", "what's the right deadline for the robot → fleet-api gRPC calls? we keep hitting DEADLINE_EXCEEDED on slow hospital wifi"),
        ("11:02", "on-call-swap", "daniel", "can someone take my on-call week starting 9 March? I'm at a wedding"),
        ("11:04", "grpc-deadline", "jonas", "we use 5s for telemetry and 30s for map uploads. Anything longer should be a streaming call instead"),
        ("11:05", "on-call-swap", "jonas", "I can take it if you take my week of 23 March"),
        ("11:06", "grpc-deadline", "mei", "makes sense. map upload is unary right now, I'll convert it to client streaming"),
        ("11:07", "on-call-swap", "daniel", "deal, updating OpsPager now :handshake:"),
        ("11:20", "grpc-deadline", "jonas", "and add retries with backoff on UNAVAILABLE, not on DEADLINE_EXCEEDED"),
    ]),
    ("2026-03-10", [
        ("16:00", "k8s-oom", "daniel", "the localization service keeps getting OOMKilled in the hospital cluster"),
        ("16:01", "lint-rule", "erik", "why does ruff complain about `except Exception:` in the firmware tools?"),
        ("16:03", "k8s-oom", "mei", "the particle filter allocates per-scan; at 40 Hz on the new lidar it needs ~1.5Gi. limit is 1Gi"),
        ("16:04", "lint-rule", "jonas", "rule BLE001 — we ban blind excepts. Catch the specific exception or add `# noqa: BLE001` with a reason"),
        ("16:05", "k8s-oom", "daniel", "bumping the limit to 2Gi in the helm values for now; <@U0ACME005> can you open a ticket for reusing the buffers?"),
        ("16:06", "lint-rule", "erik", "catching `serial.SerialException` now, ruff is happy"),
        ("16:08", "k8s-oom", "mei", "ROB-903 :white_check_mark:"),
    ]),
    ("2026-03-24", [
        ("13:10", "release-notes", "priya", "who is writing the release notes for 4.3?"),
        ("13:11", "ssh-key", "ahmed", "GitHub says my SSH key is rejected after I got the new laptop"),
        ("13:12", "release-notes", "mei", "I can do it tomorrow morning"),
        ("13:13", "ssh-key", "marco", "<@U0ACME010> new laptop = new key. `ssh-keygen -t ed25519 -C \"ahmed.karim@acme-robotics.example\"` and add the .pub in GitHub settings. Old keys are revoked on device return"),
        ("13:15", "release-notes", "priya", "thanks Mei :pray:"),
        ("13:19", "ssh-key", "ahmed", "all good now"),
    ]),
    ("2026-04-07", [
        ("10:30", "ci-cache", "jonas", "CI takes 25 min since yesterday, did the pip cache break?"),
        ("10:31", "lab-booking", "erik", "is the robot lab free this afternoon? need the test track for the new motor controller"),
        ("10:33", "ci-cache", "daniel", "yes, the cache key now includes the runner image hash and the image updated. It rebuilds once, then it's back to ~8 min"),
        ("10:34", "lab-booking", "mei", "<@U0ACME012> I have it until 14:00, it's yours after that. Book it in the lab calendar so nobody else grabs it"),
        ("10:35", "ci-cache", "jonas", "ok, makes sense. Maybe key on `hashFiles('requirements*.txt')` &amp;&amp; python version only?"),
        ("10:36", "lab-booking", "erik", "booked 14:00–17:00, thanks"),
        ("10:40", "ci-cache", "daniel", "good idea, I'll change it"),
    ]),
]

# ---------------------------------------------------------------- #general, #random: single messages
# (day, time, user, text[, reactions])
GENERAL_MESSAGES: list[tuple] = [
    ("2026-01-05", "09:00", "hannah", "Happy new year everyone! :tada: Welcome back. Big year ahead — the hospital pilot with Charité goes live in March, and we're welcoming 12 new colleagues this quarter.", {"tada": ["lena", "priya", "jonas", "mei", "sofia"], "rocket": ["daniel"]}),
    ("2026-01-05", "09:30", "lena", "Please welcome <@U0ACME012> who joins the firmware team in Berlin today! Erik comes from Stockholm and has been building motor controllers for 3 years. :wave:", {"wave": ["hannah", "priya", "mei", "jonas"]}),
    ("2026-01-12", "12:00", "sofia", "Lisbon folks: the office is closed on Friday afternoon for the electrical inspection. Please work from home from 13:00. If something urgent comes up, call me on +351 912 345 678 or write to sofia.martins.pt@example.com", {}),
    ("2026-01-19", "10:00", "lena", "Reminder: questions about leave, expenses or benefits → <#C0ACMEHRH|hr-help>. The handbook has most answers too!", {"+1": ["tom"]}),
    ("2026-02-02", "17:00", "hannah", "Slides from today's all-hands are attached. Q1 numbers look good — thank you all for the hard work on the Charité pilot :clap:", {"clap": ["lena", "julia", "priya", "ahmed"]}),
    ("2026-02-27", "11:00", "julia", "We signed Logistik Nord &amp; Co. — 40 robots across 3 warehouses :tada: Huge thanks to <@U0ACME004> and <@U0ACME005> for the on-site demo!", {"tada": ["hannah", "jonas", "mei", "priya", "daniel"]}),
    ("2026-03-16", "09:05", "hannah", "The Charité pilot is live! First 6 robots delivered 214 lab samples on day one. So proud of this team.", {"rocket": ["priya", "mei", "jonas", "erik", "daniel", "lena"]}),
    ("2026-04-01", "09:00", "lena", "Salary review letters go out this week. If you have questions about yours, talk to your manager first — Tom and I are around too.", {}),
]
RANDOM_MESSAGES: list[tuple] = [
    ("2026-01-09", "12:30", "jonas", "who's in for ramen at Cocolo today? :ramen:", {"raised_hand": ["mei", "erik"]}),
    ("2026-01-09", "12:32", "erik", "me! 12:45 at the door?", {}),
    ("2026-01-23", "16:00", "mei", "Found this great talk on SLAM for warehouses: <https://www.youtube.com/watch?v=dQw4w9WgXcQ|Mapping at scale (ROSCon)>", {"eyes": ["jonas"]}),
    ("2026-01-23", "16:04", "jonas", "<@U0ACME005> ...I know that link :smirk:", {"joy": ["mei", "erik", "daniel"]}),
    ("2026-02-06", "15:45", "sofia", "Pastéis de nata in the Lisbon kitchen :yum: first come first served", {"heart_eyes": ["ahmed", "daniel"]}),
    ("2026-02-13", "10:00", "daniel", "PSA: the Berlin coffee machine is fixed :coffee: :tada:", {"tada": ["jonas", "priya", "erik", "marco"]}),
    ("2026-02-20", "18:10", "ahmed", "Board game night next Friday in Berlin — bring games, we bring pizza :game_die: <https://forms.example/acme-games|sign-up form>", {"game_die": ["erik", "mei"]}),
    ("2026-03-06", "13:00", "erik", "My cat has learned to open the door of my home office. Send help :cat:", {"joy": ["mei", "sofia", "ahmed"]}),
    ("2026-03-20", "17:30", "mei", "Running group: 5k around Tempelhofer Feld on Monday 18:30, all paces welcome :runner:", {"+1": ["daniel", "erik"]}),
]

# ---------------------------------------------------------------- private conversations
# Content that must never reach someone outside the members.
LEADERSHIP_MESSAGES: list[tuple] = [
    ("2026-02-09", "08:30", "hannah", "Confidential until the all-hands on 20 May: we are merging the Robotics Platform team into Hardware under Priya, effective 1 June. The Lisbon firmware team moves with it. Please don't discuss outside this channel.", {"eyes": ["priya", "lena", "julia"]}),
    ("2026-02-09", "08:41", "priya", "Understood. I'll draft the new team structure; Jonas and Mei will need to hear it from me before the all-hands.", {}),
    ("2026-02-09", "09:02", "lena", "I'll prepare the contract addenda. No changes to salaries or titles are planned, only reporting lines.", {"+1": ["hannah"]}),
    ("2026-03-02", "10:00", "hannah", "Board approved the 2026 merit increase budget: 4.5% of payroll, effective 1 April. Lena will share the allocation sheet.", {"white_check_mark": ["lena", "priya", "julia"]}),
    ("2026-03-02", "10:06", "julia", "We are also in early talks with Nordbot about an acquisition of their AGV software unit. Codename Project Falcon. NDA signed last week.", {}),
    ("2026-03-02", "10:15", "hannah", "Right — Falcon stays strictly in this group. Due diligence starts in April.", {}),
]
DM_MESSAGES: list[tuple] = [
    ("2026-02-11", "17:40", "lena", "Tom, heads-up: Daniel's salary adjustment to €84,000 is approved, effective 1 March. Please include it in the March payroll run.", {}),
    ("2026-02-11", "17:52", "tom", "Noted. Will do. Also, Mei asked me to update her emergency contact: her sister Lin Chen, +49 151 2345 6789, lin.chen84@example.com", {}),
    ("2026-02-11", "17:55", "lena", "Thanks. Please keep medical details out of Slack — Jonas's long-term sick note goes into the personnel file only.", {"+1": ["tom"]}),
]
