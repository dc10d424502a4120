"""Writes handbook_questions.jsonl: employee questions over ../shared/data/docs/18f-handbook.

Written by hand the way people ask in chat (typos, lower case, half sentences). Each answerable question names
its gold page(s), relative to the handbook root, and key facts: short strings, quoted from the gold page, that a
correct answer must contain. Unanswerable questions are plausible HR questions the handbook does not answer
(checked with grep over the whole handbook; `absent` lists the terms that occur nowhere in it).

The split is fixed and stratified: within the answerable and the unanswerable questions, alternate
tune / report in the order below. Tune on "tune"; report on "report" only.

    python benchmarks/data/build_handbook_questions.py   # rewrites the .jsonl next to this file
"""
from __future__ import annotations

import json
from pathlib import Path

L = "pages/travel-and-leave/"
LEAVE = L + "leave.md"
PPL = L + "paid-parental-leave.md"
FMLA = L + "fmla.md"
ASL = L + "advanced-sick-leave.md"
VLTP = L + "voluntary-leave-transfer-program.md"
OT = L + "overtime.md"
OOO = L + "going-out-of-office.md"
ER = "pages/general-information-and-resources/employee-resources-policies/"
SCHED = ER + "work-schedules.md"
TRANSIT = ER + "transit-benefit.md"
VERIFY = ER + "employment-verification.md"
BEN = "pages/getting-started/classes/benefits.md"
EQUIP = "pages/getting-started/equipment.md"
PIV = "pages/getting-started/piv.md"
TOCK = "pages/tools/tock.md"
TOCK_C = "pages/about-us/tts-consulting/operations/tock.md"

ANSWERABLE: list[tuple[str, list[str], list[str]]] = [
    ("how much annual leave do i earn if ive been in govt less than 3 yrs?", [LEAVE], ["4 hours per pay period"]),
    ("whats the max annual leave i can carry over into next year", [LEAVE], ["240"]),
    ("is there a cap on how much sick leave I can build up?", [LEAVE], ["no maximum"]),
    ("how many hrs of sick leave do we accrue each pay period", [LEAVE, ASL], ["four hours"]),
    ("got called for jury duty next month, what leave type do i use??", [LEAVE], ["Court Leave"]),
    ("how many hours off can I get to go vote on election day", [LEAVE], ["4 hours"]),
    ("my child passed away... how much parental bereavement leave is there", [LEAVE], ["80 hours"]),
    ("how many days of sick leave can i use for a family members funeral", [LEAVE], ["104 hours"]),
    ("im in the national guard - how much military leave do i get a year", [LEAVE], ["15 Military Leave days"]),
    ("when does award leave expire", [LEAVE], ["one year"]),
    ("whats the most award leave you can get in one fiscal year", [LEAVE], ["80 hours"]),
    ("disabled veteran leave, how many hours is it", [LEAVE], ["104 hours"]),
    ("my spouse is military and we're being relocated, do I get any leave for the move?", [LEAVE], ["5 days"]),
    ("who needs to approve leave without pay longer than 80 hrs", [LEAVE], ["Business Unit Director"]),
    ("how long is paid parental leave", [PPL, LEAVE], ["12 weeks"]),
    ("do I have to be a fed for a year before i can take parental leave?", [PPL, FMLA], ["12 months"]),
    ("after PPL how long do i have to stay and work before I can quit", [PPL], ["at least 12 weeks"]),
    ("can i take my parental leave in chunks instead of all at once", [PPL], ["supervisor approval"]),
    ("how many weeks of unpaid FMLA do we get", [FMLA], ["12 weeks"]),
    ("fmla to care for my brother who is a wounded servicemember - how long can I take?", [FMLA], ["26 weeks"]),
    ("what's the max advanced sick leave I can request", [ASL, LEAVE], ["240 hours"]),
    ("what paperwork do I need to get advanced sick leave approved", [ASL], ["medical certification"]),
    ("who is eligible to receive donated leave (vltp)?", [VLTP], ["24 hours"]),
    ("how do i donate some of my annual leave to a coworker who is sick", [VLTP], ["MAX.gov"]),
    ("how far ahead do I need to put in a leave request", [OOO], ["three business days"]),
    ("does comp time expire", [OT], ["26 pay periods"]),
    ("how many credit hours can i have saved up at once", [OT], ["24 credit hours"]),
    ("do credit hours ever expire?", [OT], ["never expire"]),
    ("i fly for work on a sunday, do i get comp time for travel outside work hours", [OT], ["travel comp time"]),
    ("can I work extra hours before a religious holiday instead of using annual leave", [OT, LEAVE],
     ["adjustment to your work schedule"]),
    ("on a variable week schedule whats the max hours I can work in one day", [SCHED], ["single day is 12"]),
    ("what is a maxiflex schedule", [SCHED], ["fewer than 10 days"]),
    ("can i earn credit hours if im on a compressed schedule (4/10s)?", [SCHED], ["Not available"]),
    ("how many hours is a full time pay period", [SCHED], ["80 hours"]),
    ("how do i sign up for the transit subsidy", [TRANSIT], ["transitapp.ost.dot.gov"]),
    ("what org code do i put on the transit benefit application", [TRANSIT], ["T-TECH TRANSFORMATION SERVICE"]),
    ("how long do new hires have to pick health benefits", [BEN], ["60 days"]),
    ("when is open season for benefits", [BEN], ["second full work"]),
    ("how many free counseling sessions does the EAP give", [BEN], ["six free sessions"]),
    ("whats the phone number for the employee assistance program", [BEN], ["1-800-222-0364"]),
    ("how do I change my dental plan", [BEN], ["BENEFEDS"]),
    ("fsa - when is the deadline to submit claims for last year?", [BEN], ["April 30"]),
    ("when will i get my first paycheck", [BEN], ["three weeks"]),
    ("is the lunch break paid?", [BEN], ["unpaid"]),
    ("whats the payroll help desk number", [BEN], ["1-844-303-6515"]),
    ("how soon does my health insurance start after i join", [BEN], ["two weeks after your start date"]),
    ("my mortgage lender needs to verify my employment and salary, how?", [VERIFY], ["The Work Number"]),
    ("what's GSA's employer code for the work number", [VERIFY], ["10536"]),
    ("I got married and changed my last name, how do i update it in GSA systems", [
        "pages/18f/how-18f-works/changing-your-name.md"], ["HR Links"]),
    ("how can I set a preferred first name (I go by Mike not Michael)", [
        "pages/18f/how-18f-works/changing-your-name.md"], ["GCIMS"]),
    ("how long until my travel voucher gets reimbursed", [L + "travel-and-leave-policies/travel-guide-4-reimbursement.md"],
     ["3-5 business days"]),
    ("do I need a gov travel card?", [L + "travel-and-leave-policies/first-time-travel-travel-card.md"],
     ["as soon as possible"]),
    ("which password manager are we supposed to use", [
        "pages/general-information-and-resources/tech-policies/password-requirements.md"], ["KeePassXC"]),
    ("i think i clicked on a phishing email what do i do", [
        "pages/general-information-and-resources/tech-policies/security-incidents.md"], ["Cofense"]),
    ("how quickly do I have to report a security incident", [
        "pages/general-information-and-resources/tech-policies/security-incidents.md"], ["1 hour"]),
    ("my work laptop got stolen from my car, what are the steps", [EQUIP], ["lost or stolen"]),
    ("can i plug my personal laptop into the gsa network at the office", [EQUIP],
     ["Personal laptops cannot be connected"]),
    ("forgot my PIV card at home, how do I log in to my laptop", [PIV], ["Help Desk"]),
    ("what day of the week does GSA process new badges", [PIV], ["Wednesday"]),
    ("whats the time in grade requirement to apply for a promotion", [
        "pages/hiring-staying-or-changing-jobs/promotions.md"], ["one year"]),
    ("how long can a term appointment last in total", ["pages/hiring-staying-or-changing-jobs/term-extensions.md"],
     ["four or eight"]),
    ("when does peopleops start the term renewal process", ["pages/hiring-staying-or-changing-jobs/term-extensions.md"],
     ["6-7 months"]),
    ("what % of my time is supposed to be billable at 18F", [TOCK, TOCK_C], ["80%"]),
    ("which tock code do I use when im on vacation", [TOCK, TOCK_C], ["670"]),
    ("when is the end of year self assessment due", ["pages/performance-management/dates.md"], ["October 17"]),
    ("how long does it take to get a decision on a reasonable accommodation request", [
        "pages/general-information-and-resources/reasonable-accommodations.md"], ["30 calendar days"]),
    ("im relocating for 3 months, do i have to tell peopleops?", [L + "travel-and-leave-policies/moving.md"],
     ["120 days"]),
    ("do I still need an IDP to request training?", ["pages/training-and-development/idp.md"], ["no longer required"]),
    ("what form do i fill out to get a conference approved", [
        "pages/training-and-development/conferences-events-training.md", "pages/training-and-development/idp.md"],
     ["SF-182"]),
    ("where can I see my pay stubs", [BEN], ["Employee Express"]),
    ("if i join the GSA credit union and then leave do i lose membership", [BEN], ["member for life"]),
    ("do feds get a discount on cell phone plans", [BEN], ["15%"]),
]

# Plausible questions the handbook does not answer; `absent`: terms found nowhere in it (grep -ri).
UNANSWERABLE: list[tuple[str, list[str]]] = [
    ("do we get a home office stipend?", ["stipend"]),
    ("is there a sabbatical after 5 yrs of service", ["sabbatical"]),
    # (replaced "what's the dress code for the office": the city office pages do describe what people wear)
    ("do we get extra days off for our wedding?", ["wedding", "marriage leave"]),
    ("can i get a company car for client visits", ["company car"]),
    ("does GSA pay tuition for a masters degree", ["tuition"]),
    ("when is the holiday party this year??", ["holiday party"]),
    ("what severance do we get if there are layoffs", ["severance", "reduction in force", "layoff"]),
    ("how do i enroll in the employee stock purchase plan", ["stock purchase", "ESPP"]),
    ("is fertility treatment covered by our insurance", ["fertility"]),
    ("does TTS sponsor H-1B visas for new hires", ["H-1B", "visa sponsor"]),
    ("is pet insurance one of our benefits", ["pet insurance"]),
    ("are visible tattoos ok at work", ["tattoo"]),
    ("whats the signing bonus for new engineers", ["signing bonus"]),
    ("do we get a day off on our birthday", ["birthday off"]),
    ("is there a notary at the office who can notarize my docs", ["notary", "notarize"]),
    ("what's the bonus for referring a friend who gets hired", ["referral bonus"]),
    ("how much does the agency match on my TSP contributions", ["agency match", "matching contribution"]),
    ("can i cash out my sick leave at the end of the year", ["cash out"]),
    ("is cannabis use ok if it's legal in my state", ["cannabis", "marijuana"]),
    ("do we get free yoga classes", ["yoga"]),
    ("what's the annual cost of living raise this year", ["cost of living", "COLA"]),
    ("do i get a relocation bonus if i move to the chicago office", ["relocation bonus", "relocation incentive"]),
    ("can I bring my kids to work on a snow day", ["bring your kid", "children to work", "kids to work"]),
    ("whats our policy on unpaid internships for students in summer", ["unpaid intern"]),
]


def build() -> list[dict]:
    out: list[dict] = []
    for i, (q, gold, facts) in enumerate(ANSWERABLE):
        out.append({"id": f"a{i + 1:03d}", "question": q, "answerable": True, "gold_pages": gold, "key_facts": facts,
                    "split": "tune" if i % 2 == 0 else "report"})
    for i, (q, absent) in enumerate(UNANSWERABLE):
        out.append({"id": f"u{i + 1:03d}", "question": q, "answerable": False, "gold_pages": [], "key_facts": [],
                    "absent": absent, "split": "tune" if i % 2 == 0 else "report"})
    return out


if __name__ == "__main__":
    path = Path(__file__).with_name("handbook_questions.jsonl")
    rows = build()
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} questions to {path}")
