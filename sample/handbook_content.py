"""Text of the fictional Acme Robotics employee handbook, rendered by generate.py into Markdown, PDF, DOCX and HTML.

Every number here is the single source of truth for the sample: the Slack answers in slack_content.py and the
evaluation questions in questions.jsonl quote these facts, so change them together.
"""
from __future__ import annotations

# Markdown pages: file name -> text. One policy area per page, as a real handbook repository would hold them.
MARKDOWN_PAGES: dict[str, str] = {
    "01-welcome.md": """\
# Welcome to Acme Robotics

Acme Robotics builds autonomous mobile robots for warehouses and hospitals. We are about 140 people, with our
headquarters in Berlin (Torstraße 100, 10119 Berlin) and an engineering office in Lisbon (Rua da Prata 80).

This handbook is the place to look first. If something is missing or out of date, ask in #hr-help or write to
people@acme-robotics.example and the People team will update the page.

## Who to ask

| Topic | Person | Contact |
|---|---|---|
| Leave, benefits, policies | Lena Fischer, Head of People | #hr-help |
| Payroll, payslips, contracts | Tom Becker, People Operations | payroll@acme-robotics.example |
| Lisbon office, visas, relocation | Sofia Martins, Office Manager Lisbon | #hr-help |
| Laptops, accounts, access | Marco Rossi, IT Support | helpdesk@acme-robotics.example |
| Security incidents | Security team | security@acme-robotics.example |

## Our values

- **Ship safe robots.** Safety reviews are never skipped to hit a date.
- **Write it down.** Decisions live in documents, not in someone's head.
- **Default to trust.** We assume good intent and give direct feedback.
""",
    "02-annual-leave.md": """\
# Annual Leave and Time Off

## Annual leave

Every full-time employee gets **25 days of paid annual leave** per calendar year, on top of public holidays.
Part-time colleagues get a pro-rated amount (for example 20 days on a four-day week). In your first and last year
the allowance is pro-rated by month of employment.

Leave is requested in **PeopleHub** (Time Off → Request). Your manager approves it; requests of more than
10 consecutive working days should be made at least 4 weeks in advance.

## Carry-over

You may carry over **up to 5 unused days** into the next year. Carried-over days must be taken **by 31 March**;
anything left after that date expires. Days beyond the 5-day limit expire on 31 December unless the Head of People
approved an exception in writing (for example after long sick leave or parental leave).

## Special leave

- Your own wedding or civil partnership: 2 days.
- Moving house: 1 day per year.
- Death of a close family member: up to 3 days.
- Volunteering: 1 paid volunteering day per year.

## Unpaid leave and sabbaticals

After 2 years at Acme you can ask for up to 3 months of unpaid leave. Talk to your manager first, then to Lena.
""",
    "03-sick-leave.md": """\
# Sick Leave

If you are ill, tell your manager **before 10:00** on the first day, by Slack or phone, and record the absence in
PeopleHub under "Sick leave". You do not need to explain what is wrong.

From the **4th calendar day** of illness you need a doctor's certificate (in Germany: the electronic eAU, which
we receive from your health insurer automatically; in Portugal: upload the certificate to PeopleHub).

Sick days never count against your annual leave. If you fall ill during your holiday and have a certificate, the
days are given back to you.

Looking after a sick child: up to 10 days per child per year in Germany, paid via the health insurer
(Kinderkrankengeld). Tell Tom Becker so payroll can handle it.
""",
    "04-expenses.md": """\
# Expenses

All business expenses are submitted in **Spendly**, our expense tool, with a photo of the receipt.

## Rules

- Submit receipts **within 30 days** of the expense. Older receipts are only reimbursed with your manager's
  written approval.
- Expenses above **€500** need approval from your manager before you spend the money.
- Approved expenses are reimbursed with the **next monthly payroll**.
- Meals on business travel: up to **€50 per day** (breakfast included in the hotel does not count).
- Client dinners: up to €80 per person including drinks; name the attendees in Spendly.
- Alcohol is only reimbursed at client dinners.
- Taxis are fine after 22:00 or when carrying equipment; otherwise use public transport.

## Company cards

Team leads and people who travel more than once a month can get a Spendly company card. Ask Tom Becker.
Personal expenses on the company card must be paid back within 14 days.
""",
    "05-equipment.md": """\
# Equipment and IT

## Laptops

You choose between a **MacBook Pro 14"** and a **Lenovo ThinkPad X1 Carbon** (Linux or Windows). Laptops are
refreshed **every 3 years**; IT contacts you when yours is due. If it breaks earlier, open a ticket with
helpdesk@acme-robotics.example and you get a loaner the same day in Berlin or Lisbon.

## Home office equipment

Every employee has a **one-off home-office budget of €400** for a monitor, chair, keyboard, headset and similar.
Buy it yourself and submit the receipt in Spendly with the category "Home office". Items above the budget are on
you. Equipment bought with this budget is yours to keep.

## Phones

Company phones are only issued to people in the on-call rotation and to Sales. Everyone else may use a private
phone for Slack and MFA.

## Lost or stolen devices

Report a lost or stolen laptop or phone to IT **within 24 hours** (helpdesk@acme-robotics.example or #it-help)
so it can be wiped remotely.
""",
    "06-remote-work.md": """\
# Remote and Hybrid Work

Acme is hybrid. You can work from home **up to 3 days per week**; teams agree on their own office days, usually
Tuesday and Thursday.

## Core hours

Core hours are **10:00–15:00 CET**. Outside those hours, plan your day as you like.

## Remote-work stipend

Everyone on a hybrid contract receives **€30 per month** towards internet and electricity, paid automatically
with salary. No receipts are needed.

## Working from abroad

You may work from another country for **up to 20 working days per year**. Request it in PeopleHub ("Work
abroad") at least 2 weeks in advance so the People team can check tax and social-security rules. Some countries
are excluded for security reasons; the list is in PeopleHub.

## Fully remote contracts

Fully remote contracts are only offered for roles that say so in the job ad. Moving to another city or country
permanently needs approval from your manager and Lena Fischer.
""",
    "07-payroll.md": """\
# Payroll

- Salaries are paid on the **last working day of each month**.
- Payslips appear in PeopleHub (Documents → Payslips) on the **25th** of the month.
- Changes to your bank account must be entered in PeopleHub **by the 15th** to take effect the same month.
- Overtime is compensated with time off in lieu, not cash, except for the on-call stipend.
- Annual salary reviews take place in **April**, with changes effective from 1 April.

Questions about payslips, tax classes or social security go to Tom Becker (payroll@acme-robotics.example).
""",
    "08-on-call.md": """\
# On-call

Engineering teams that run production systems have a **weekly on-call rotation**, Monday 10:00 to Monday 10:00.
Pages arrive through **OpsPager**.

## Compensation

- **€300 stipend per on-call week**, paid with the next payroll.
- If you are paged between 22:00 and 07:00, you get **one day off in lieu** the next working day.

## Expectations

- Acknowledge a SEV1 page **within 15 minutes**; SEV2 within 1 hour.
- Carry your laptop and a charged company phone.
- Hand over open incidents in #incidents at the end of your shift.
- Swaps are fine: agree with a colleague and update the schedule in OpsPager yourself.

No one is on call more than one week in four, and new joiners shadow two rotations before their first
primary shift.
""",
    "09-security.md": """\
# Security Basics

1. **MFA is mandatory** on Google Workspace, Slack, GitHub and PeopleHub. Use the VaultKey authenticator or a
   hardware key; SMS codes are not allowed.
2. Store passwords only in **VaultKey**, our password manager. Never paste secrets into Slack, tickets or code.
3. Lock your screen when you leave your desk; laptops lock automatically after **5 minutes**.
4. Laptops use full-disk encryption (FileVault or LUKS). IT checks this at setup.
5. Customer data must never be copied to USB sticks or personal cloud storage.
6. The staging and robot-fleet networks are only reachable via the **WireGuard VPN**.

## Reporting

Forward phishing mails to **security@acme-robotics.example** and report suspected incidents in #security
**within 1 hour**. You will never be blamed for reporting a mistake quickly.
""",
    "10-onboarding.md": """\
# Onboarding

## Your first day

Arrive at **09:30** at the reception of your office (Berlin: Torstraße 100, 3rd floor; Lisbon: Rua da Prata 80).
IT hands out your laptop at 10:00, and you have lunch with your team.

## Buddy

Every new joiner gets an **onboarding buddy** from another team for the first 3 months. Your buddy is named in
your welcome e-mail.

## Probation

The probation period is **6 months**. Your manager holds check-ins after 1, 3 and 5 months.

## First-week checklist

- Set up MFA and VaultKey (see Security Basics).
- Complete the safety training for the robot lab before entering it.
- Read the Code of Conduct and the Travel Policy.
- Add your photo and title to Slack and PeopleHub.
""",
    "11-code-of-conduct.md": """\
# Code of Conduct

We want Acme to be a place where everyone can do their best work. We do not tolerate harassment, discrimination
or bullying, in the office, at events or online.

## Reporting

If something happens to you or you witness it, you can:

- talk to your manager or to Lena Fischer (Head of People);
- use the anonymous **SpeakUp** form (link in PeopleHub), which is read only by Lena and an external lawyer.

Every report is investigated within **10 working days**. Retaliation against someone who reports in good faith
is a disciplinary offence.

## Gifts

Gifts from suppliers or customers worth more than **€50** must be declared to your manager.
""",
    "12-learning.md": """\
# Learning and Development

- Every employee has a **learning budget of €1,000 per year** for courses, books and conferences.
- You also get **3 learning days per year** to attend training or conferences.
- Book conferences through the normal travel process (Tripwise) and submit tickets in Spendly under "Learning".
- The budget does not carry over into the next year.
- If Acme pays more than €3,000 for a single certification, a pro-rated repayment applies if you leave within
  12 months.

Internal tech talks happen every second Friday at 16:00 in the Berlin kitchen and on Google Meet.
""",
}

# PDF: benefits and family leave, one section per page.
PDF_TITLE = "Acme Robotics - Benefits and Family Leave 2026"
PDF_PAGES: list[tuple[str, str]] = [
    ("Benefits overview", """\
This document describes the benefits Acme Robotics offers to all permanent employees in Germany and Portugal
from 1 January 2026. Benefits start on your first working day unless a waiting period is stated.

Summary:
- Company pension: Acme matches your contributions up to 4% of gross salary.
- Private health top-up insurance with Medicura for you and your children.
- FitPass sports membership subsidy of EUR 30 per month.
- Bike leasing through Bikely (Germany only).
- Learning budget of EUR 1,000 per year plus 3 learning days (see the Learning page).
- Employee referral bonus of EUR 2,000.

Questions: Lena Fischer (Head of People) or #hr-help."""),
    ("Pension and insurance", """\
Company pension. In Germany the pension is run through a deferred-compensation plan (bAV) with Allvia Pension.
Acme matches your own contribution one to one, up to 4% of your gross salary. You can enrol at any time in
PeopleHub under Benefits; changes take effect on the first day of the following month.

In Portugal Acme pays the same 4% into a PPR plan of your choice.

Health top-up. All employees are covered by a Medicura top-up policy that includes dental care and glasses up
to EUR 300 every two years. Children are covered free of charge; partners can be added at your own cost.

Life and disability insurance cover two times your annual gross salary and are free for employees."""),
    ("Parental leave", """\
Primary caregivers receive 16 weeks of parental leave at full pay. Secondary caregivers receive 4 weeks at
full pay, which can be taken in one block or in weekly blocks during the first 12 months after the birth or
adoption.

The full-pay period tops up any statutory benefit (Elterngeld in Germany, subsidio parental in Portugal) so that
you receive your normal net salary.

Please tell the People team at least 8 weeks before the expected start of your leave. Statutory parental leave
beyond these weeks (in Germany up to 3 years of Elternzeit) remains available unpaid.

Returning parents may work 80% hours at 100% pay for the first 4 weeks after their return."""),
    ("Wellbeing and other benefits", """\
FitPass. Acme subsidises a FitPass sports membership with EUR 30 per month. Sign up with your company e-mail;
the subsidy is deducted automatically.

Bike leasing. In Germany you can lease a bike or e-bike through Bikely by salary conversion; Acme pays the
insurance. One bike per employee at a time.

Employee assistance. Confidential counselling sessions (up to 6 per year) are available through MindWell,
free of charge and anonymous.

Referral bonus. If someone you referred is hired, you receive a referral bonus of EUR 2,000 after they pass
their probation period. Hiring managers and the People team are not eligible.

Anniversaries. After 5 years at Acme you get 5 extra days of leave in that year."""),
]

# DOCX: travel policy with a table of class and hotel limits.
DOCX_TITLE = "Travel Policy"
DOCX_SECTIONS: list[tuple[str, list[str]]] = [
    ("Booking", [
        "All business trips are booked in Tripwise, our travel booking tool. Log in with Google SSO; your manager "
        "approves the trip in Tripwise before anything is booked.",
        "Book at least 14 days in advance where possible. Tripwise shows the approved options first.",
    ]),
    ("Transport", [
        "Take the train for journeys under 5 hours. First class is allowed for train journeys longer than 3 hours.",
        "Flights are economy class. Premium economy is allowed for flights longer than 6 hours.",
        "Rental cars need prior approval from your manager and are only for trips to customer sites without "
        "public transport.",
    ]),
    ("Hotels and meals", [
        "Hotels are limited to €180 per night, or €220 per night in London, Paris, Zurich and New York.",
        "Meals are reimbursed up to €50 per day, as described in the Expenses page. Submit all receipts in "
        "Spendly within 30 days.",
    ]),
    ("Insurance and safety", [
        "Every business trip is covered by the company travel insurance with Medicura Travel. The policy number "
        "is ACM-TRV-2026 and the emergency line is printed on the back of your Acme ID badge.",
        "For trips to customer warehouses, bring your safety shoes and follow the site's safety briefing.",
    ]),
]
DOCX_TABLE_HEADER = ["Item", "Standard", "Exception"]
DOCX_TABLE_ROWS = [
    ["Train", "2nd class", "1st class over 3 hours"],
    ["Flight", "Economy", "Premium economy over 6 hours"],
    ["Hotel per night", "€180", "€220 in London, Paris, Zurich, New York"],
    ["Meals per day", "€50", "Client dinners up to €80 per person"],
]

# HTML: office guide with the 2026 public holidays for both offices.
HTML_TITLE = "Office Guide and Public Holidays 2026"
HOLIDAYS_2026: list[tuple[str, str, str]] = [
    ("1 January", "New Year's Day", "Berlin, Lisbon"),
    ("8 March", "International Women's Day", "Berlin"),
    ("3 April", "Good Friday", "Berlin, Lisbon"),
    ("6 April", "Easter Monday", "Berlin"),
    ("25 April", "Freedom Day", "Lisbon"),
    ("1 May", "Labour Day", "Berlin, Lisbon"),
    ("14 May", "Ascension Day", "Berlin"),
    ("25 May", "Whit Monday", "Berlin"),
    ("10 June", "Portugal Day", "Lisbon"),
    ("13 June", "St Anthony's Day", "Lisbon"),
    ("3 October", "German Unity Day", "Berlin"),
    ("5 October", "Republic Day", "Lisbon"),
    ("1 December", "Restoration of Independence", "Lisbon"),
    ("8 December", "Immaculate Conception", "Lisbon"),
    ("24 December", "Christmas Eve (company day off)", "Berlin, Lisbon"),
    ("25 December", "Christmas Day", "Berlin, Lisbon"),
    ("26 December", "Second Day of Christmas", "Berlin"),
    ("31 December", "New Year's Eve (company day off)", "Berlin, Lisbon"),
]
HTML_OFFICE_PARAGRAPHS: list[tuple[str, str]] = [
    ("Berlin office", "Torstraße 100, 3rd floor, 10119 Berlin. Open 07:00–21:00 on working days; your badge works "
     "at the side entrance on weekends. Lunch is catered on Tuesdays and Thursdays."),
    ("Lisbon office", "Rua da Prata 80, 2nd floor, Lisbon. Open 08:00–20:00 on working days. Sofia Martins is "
     "the office manager and handles keys, desks and visitor passes."),
    ("Visitors", "Register visitors in the Envoy kiosk at reception at least one day in advance. Visitors to "
     "the robot lab must be accompanied at all times and wear safety glasses."),
    ("Parking and bikes", "There is no car parking at either office. Berlin has a bike room in the courtyard; "
     "ask reception for an access card."),
]
