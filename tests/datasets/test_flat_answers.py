"""Q&A pairs from un-threaded (IRC-style) channels: the defects a reader found in fresh Ubuntu IRC builds
(issue 20, session 3 review of `benchmarks/dataset_review.py` samples), each guarded on a small conversation.

Non-answers that got through as responses: a bot command, a channel pointer, talking the asker out of it, a
question back whose "requires" read as a cause, a bare diagnostic command, a hedged guess, a joke. Openers that were no
real question: a line continuing a discussion, asking-to-ask, "can anyone help me?" with no question. Responses
addressed to the asker but about something else.
"""
from __future__ import annotations

import pytest

from ingest.datasets import answers
from ingest.datasets.records import Msg


def m(k: int, who: str, text: str) -> Msg:
    return Msg("C9", f"{1000 + k}.000000", who, text, user_name=who)


def pair(question: str, response: str, asker: str = "kayde", helper: str = "ompaul", reply: str | None = None) -> list[Msg]:
    """The question, the response and, when given, the asker's next line."""
    return [m(0, asker, question), m(1, helper, response)] + ([m(2, asker, reply)] if reply else [])


def accepted(question: str, response: str, asker: str = "kayde", helper: str = "ompaul") -> list[Msg]:
    """The asker takes the response well: an un-threaded pair needs it (session 4)."""
    return pair(question, response, asker, helper, f"{helper}: thanks, that did it")


NON_ANSWERS = [
    ("How do i get gksudo update-manager -d to update to dapper?", "kayde: /msg ubotu rc"),
    ("how can I update my KDE to 3.5.3?", "kayde: #kubuntu (if it exists)"),
    ("I set up postfix as a smart host relay with gmail and now it won't send mail from my other address?",
     "kayde, #postfix"),
    ("is kali linux supported here? which repo should I use?",
     "kayde: #ubuntu only support Ubuntu, not unofficial derivatives. See #kali-linux for their channel."),
    ("can someone please help me with the nvidia driver installation? i'm getting desperate",
     "kayde: dont try it. i broke ubuntu."),
    ("will 32-bit machines still be supported by the desktop installer?",
     "kayde: how many apps do you have that require 3 gigs of ram per process?"),
    ("I can only get sound from a single application at a time, is there any way to let all application sounds mix?",
     "kayde: cat /proc/asound/modules"),
    ("can anyone help me install my Netgear MA111 USB adapter? it is not detected",
     "kayde: what have yu tried"),
    ("Why would opening a game in the software center place me on the default screen?",
     "kayde: did you use the search menu, it may have been a uninstalled game thus asking you to install it"),
    ("how do I make music on my ubuntu laptop available to my dlna receiver?",
     "kayde: I can't guide you, but you're looking for a DLNA server.  surely there's something in the repositories."),
]


@pytest.mark.parametrize("question,response", NON_ANSWERS)
def test_irc_non_answers_are_never_the_response(question, response):
    msgs = accepted(question, response)  # even when the asker thanks them
    assert answers.non_answer_reason(answers.features(msgs, 1, "kayde", 1)) is not None
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == []


ANSWERS = [
    ("which file tells me which release i'm using?", "kayde: type 'lsb_release -a' in a console. :)"),
    ("how do i make a script like a .bat file to launch my java app?",
     "kayde: edit a file, type #!/bin/bash at the first line, then your commands, and save it."),
    ("how do you upgrade rc to final? 'DapperUpgrades' doesn't mention this",
     "kayde: sudo apt-get update && sudo apt-get dist-upgrade"),
    ("how can I restart gnome without restarting my computer?",
     "kayde: you can logout and back in, or if it's locked up, then use ctrl-alt-backspace"),
    ("my ubuntu install is screwed up, glxinfo cannot find the rgb buffer. can I fix it without reinstalling?",
     "kayde: maybe reinstall these two packages: libgl1-mesa-glx libgl1-mesa-dri"),
    ("whats the package that include all the compile tools?", "kayde: build-essential"),
    ("how can I find out what module was loaded to access eth0?", "kayde: sudo lshw -C network"),
]


@pytest.mark.parametrize("question,response", ANSWERS)
def test_irc_answers_still_make_a_pair(question, response):
    """The rules are not a blanket ban on short IRC replies: commands, shebangs, instructions and package names
    addressed to the asker are answers; so is a bare name when the question asks for one, and a command that shows
    something when the question asks how to find it out."""
    assert answers.resolving_answers(accepted(question, response), "kayde", threaded=False) == [1]


def test_a_channel_named_inside_an_answer_is_no_redirect():
    msgs = pair("I got a weird email asking me to re-validate my PeopleHub password. Phishing?",
                "kayde: Almost certainly. Don't click anything. Forward it to security@acme-robotics.example and post "
                "in #security — we have to hear about suspected incidents within 1 hour.")
    assert answers.non_answer_reason(answers.features(msgs, 1, "kayde", 1)) is None
    assert answers.resolving_answers(msgs, "kayde", threaded=True) == [1]


@pytest.mark.parametrize("opening", [
    ["well, we are getting towards the point where most 32-bit only machines cannot reasonably run the software"],
    ["basically an efi boot manager... but apparently windows has one? at least a windows 8-style OS chooser showed"],
    ["with usb: CBM in boot menu", "tha?", "that?"],
    ["kingspawn? the file like .bat wich extensin must have? and how i launch it?"],
    ["who here runs kali linux?"],
    ["Hi does anyone have any experience with transcode?", "anyone use transcode?"],
    ["any ham radio operators here tonight?"],
    ["Hi... I have BIG problem with ubuntu and Active Directory. Can anyone help me?"],
    ["why so many?"],
])
def test_flat_openers_that_are_no_real_question(opening):
    msgs = [m(k, "asker", t) for k, t in enumerate(opening)]
    msgs.append(m(len(opening), "helper", "asker: install the ubuntu-restricted-extras package with "
                                          "`sudo apt-get install ubuntu-restricted-extras`"))
    msgs.append(m(len(opening) + 1, "asker", "helper: thanks, that worked"))
    assert answers.flat_opening_reason(msgs, "asker") is not None
    assert answers.resolving_answers(msgs, "asker", threaded=False) == []


def test_flat_real_questions_pass_the_opener_check():
    for opening in (["how do i make files hidden?", "or folder"],
                    ["hi", ":)", "hi how can I reboot via command line in Ubuntu?"],
                    ["I have a problem, I installed Ubuntu, grub boots both windows and ubuntu, but when I get home "
                     "at night the bootloader no longer works", "i see grub loading and the pc keeps rebooting"]):
        msgs = [m(k, "asker", t) for k, t in enumerate(opening)] + [m(9, "helper", "asker: run the live CD and "
                                                                               "type grub-install")]
        assert answers.flat_opening_reason(msgs, "asker") is None, opening


def test_flat_response_must_be_on_topic():
    """Addressed to the asker but about something else (a line of a neighbouring conversation), a bare "or so" or a
    guess: no pair. The same message in a Slack thread is not held to this (threads carry their own link)."""
    q = 'why is it that "Listen 80" in httpd.conf makes apache run on ipv6 instead of ipv4?'
    off = accepted(q, "kayde: the differences are trivial, setup is basically the same.")
    assert not answers.on_topic(off, 1, 1)
    assert answers.resolving_answers(off, "kayde", threaded=False) == []
    on = accepted(q, "kayde: apache listens on ipv6 sockets which also accept ipv4; use Listen 0.0.0.0:80 for ipv4 only")
    assert answers.on_topic(on, 1, 1)
    assert answers.resolving_answers(on, "kayde", threaded=False) == [1]
    guess = accepted("how can i start a user service (systemd) as root?",
                 "kayde: maybe compare the env when the user service works and when it doesn't")
    assert answers.resolving_answers(guess, "kayde", threaded=False) == []
    joke = accepted("What's the best version to install for legacy ATI drivers for a radeon X850 Pro? 8.04 or 8.10?",
                "kayde: Try this. Burn a copy of each version and see which one works better. :P")
    assert answers.resolving_answers(joke, "kayde", threaded=False) == []


# --- session 4: the asker's word decides an un-threaded pair; defects found in fresh samples (pairs-tune-1/2) ---

HOWTO = ("How can I check available disk space by partition in the terminal?", "kayde, df -h")


@pytest.mark.parametrize("reply", [None, "ompaul: thanks, but I'm not dual booting", "it still says the same thing",
                                   "ompaul: and how do I see it per folder?", "i tried that already",
                                   "ompaul: i'm working on a remixed cd", "ompaul, try'd it on 1000 to did't work also"])
def test_an_unthreaded_pair_needs_the_askers_acceptance(reply):
    """On topic and addressed is not enough in a flat channel: the hedges, partial hints and diagnostics a reader
    found there look the same. Silence, an objection, "thanks, but …" or a new question: no pair (the chat example
    keeps the conversation)."""
    msgs = pair(*HOWTO, reply=reply)
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == []
    assert answers.flat_pair_reason(msgs, 1, "kayde", 1) == "asker_did_not_accept"


@pytest.mark.parametrize("reply", ["ompaul: thanks", "cheers ompaul", "that worked, thank you", "ompaul: cool, got it"])
def test_an_unthreaded_pair_the_asker_accepts(reply):
    assert answers.resolving_answers(pair(*HOWTO, reply=reply), "kayde", threaded=False) == [1]


def test_a_slack_thread_pair_does_not_wait_for_the_asker():
    """Threads keep their rule (the pair bar or the asker's confirmation): a maintainer's answer often ends a thread
    without a reply."""
    msgs = pair("How do I check disk space per partition in the terminal? df alone prints too much",
                "<@kayde> run `df -h` — it prints each mounted partition with its size, used and free space")
    assert answers.resolving_answers(msgs, "kayde", threaded=True) == [1]


@pytest.mark.parametrize("threaded", [True, False])
def test_an_add_on_to_an_earlier_answer_is_no_answer_alone(threaded):
    """"also, …" adds to what the helper said before; alone it answers nothing (tune-1: the $HOME escaping question
    got "also, put the variable in brackets")."""
    q = ('If I use echo "export PATH=$HOME/bin:$PATH" >> .bashrc, $HOME is evaluated, but I want the string in '
         '.bashrc. Is there an escape character for this?')
    also = "kayde: also, if you're going to use the variable in a path you should put it in brackets, i.e. ${HOME}/stuff"
    assert answers.resolving_answers(accepted(q, also), "kayde", threaded=threaded) == []
    plain = "kayde: use single quotes, or escape it with a backslash: \\$HOME — the shell then leaves it alone"
    assert answers.resolving_answers(accepted(q, plain), "kayde", threaded=threaded) == [1]


@pytest.mark.parametrize("opening", [["Any idea how to solve that error?"],
                                     ["anyone know anything about ispconfig"],
                                     ["When i get adsl2+(Oh yeaaa) I can install them all"]])
def test_more_flat_openers_that_are_no_real_question(opening):
    msgs = [m(k, "asker", t) for k, t in enumerate(opening)]
    msgs += [m(8, "helper", "asker: sudo apt-get install libboost-dev"), m(9, "asker", "helper: thanks!")]
    assert answers.flat_opening_reason(msgs, "asker") is not None
    assert answers.resolving_answers(msgs, "asker", threaded=False) == []


@pytest.mark.parametrize("opening", [["how to hack wireless networks"],
                                     ["can the regular cd installation be installed for dual boot with windows"]])
def test_questions_without_a_question_mark_still_open_a_pair(opening):
    msgs = [m(0, "asker", opening[0]), m(1, "helper", "asker: try aircrack-ng, or the alternate install CD for dual "
                                                    "boot"), m(2, "asker", "helper: thanks")]
    assert answers.flat_opening_reason(msgs, "asker") is None


@pytest.mark.parametrize("question,response", [
    ("what's the differences between 10.04 and 10.10", "kayde: 0.06"),
    ("whats the best game/program to get?", "kayde: Depends on what you're looking for."),
    ("does build-essential come with latest gcc, or prior v3 release?", "kayde, apt-cache show build-essential"),
])
def test_accepted_non_answers_still_give_no_pair(question, response):
    """A number alone, "depends", a command that only shows something: the asker's "cool"/"thanks" does not make them
    answers."""
    assert answers.resolving_answers(accepted(question, response), "kayde", threaded=False) == []


@pytest.mark.parametrize("question,response", [
    ("how come I wasn't able to see my external HD in /mnt or /media in xubuntu?",
     "kayde: there is a multitude of answers to that question, all kinds of different possibilities."),
    ("I am trying to send email from php on my ubuntu VPS. has anyone experience setting up sendmail?",
     "kayde: man sendmail might provide more info maybe"),
    ("my friend gets 'bash: /usr/bin/sudo: Input/output error' on a brand new drive. any reason apart from a failing "
     "drive?", 'kayde: get pastebinit and smartmontools installed, then get us a "sudo smartctl -a /dev/sdX | '
               'pastebinit" where sdX is the / disk.'),
])
def test_vague_replies_and_requests_for_output_are_no_answer(question, response):
    """tune-3: "a multitude of answers", a man page "might provide more info maybe", "get us a … | pastebinit"."""
    msgs = accepted(question, response)
    assert answers.non_answer_reason(answers.features(msgs, 1, "kayde", 1)) is not None
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == []


def test_an_opening_the_asker_already_thanked_for_is_answered_elsewhere():
    msgs = [m(0, "kayde", "about that latest glibc bug, which is the latest stable release for ubuntu 16.04?"),
            m(1, "kayde", "oh, thanks! :)"), m(2, "ompaul", "kayde: you can also check this on packages.ubuntu.com"),
            m(3, "kayde", "nice, thanks")]
    assert answers.flat_opening_reason(msgs, "kayde") == "continues_earlier_message"
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == []


@pytest.mark.parametrize("question,response,ok", [
    ("anybody knows how I can see a Windows partition with Linux?", "kayde: www.ubuntuguide.org", False),
    ("can any1 tell me how to install oracle 10g on ubuntu 13.04?",
     "kayde: check out https://help.ubuntu.com/community/VirtualBox", False),
    ("How do I get tor for karmic?", "kayde: See torproject.org", True),
    ("what is irc.ubuntu.com? it looks like a mirror of irc.freenode.net, is that so?",
     "kayde, yes - it's a CNAME to chat.freenode.net.", True),
])
def test_a_bare_link_must_name_the_questions_topic(question, response, ok):
    """A link with little else answers when its address names what was asked (tor → torproject.org); a general site
    or a page about something else is a pointer."""
    msgs = accepted(question, response)
    assert answers.on_topic(msgs, 1, 1) is ok
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == ([1] if ok else [])


def test_the_askers_thanks_after_a_status_line_still_accepts():
    """"builder cache was 31GB, pruned, building again" — "works, thanks Daniel!": the verdict comes a line later."""
    msgs = pair(*HOWTO, reply="ompaul: ran it, pruning some old kernels now")
    msgs.append(m(3, "kayde", "works, thanks ompaul!"))
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == [1]


@pytest.mark.parametrize("second", [("ompaul", "kayde: and `du -sh *` shows it per folder"),
                                    ("jrib", "kayde: or try baobab, it draws the disk usage")])
def test_a_thanks_after_another_reply_to_the_asker_is_not_for_the_first(second):
    """The asker's "ok, thnx" after a second reply (the same helper's or someone else's) may thank that one."""
    msgs = pair(*HOWTO) + [m(2, *second), m(3, "kayde", "ok, thnx")]
    assert 1 not in answers.resolving_answers(msgs, "kayde", threaded=False)
    assert answers.flat_pair_reason(msgs, 1, "kayde", 1) == "asker_did_not_accept"


# --- session 5 (helper `pairs`): defects read in an Ubuntu IRC train sample (seed pairs5-tune, 30 logs) -------------

@pytest.mark.parametrize("question,response", [
    ("Is anyone else having problems with flash after the last update? I can't view flash now",
     "kayde: whats the output of this command: ls ~/.mozilla/plugins"),
    ("I have installed Ubuntu 12.10 on a Lenovo U410 with an Nvidia card, how do I install nvidia drivers?",
     "kayde:  dont use the ones from the nvidia site if you can avoid it"),
    ("Is it possible to change a laptop's cpu or does it get soldered to the board?",
     "kayde: try ##hardware, but in most cases the answer will be terribly hard towards nearly impossible to"),
    ("any ideas why ubuntu is not using my gigabit network card at full speed? it says 100Mb/s",
     "kayde: that's a common problem with that chipset IIRC, try doing some searches like 'realtek 8169 only "
     "100mbps' etc, and I'm sure you'll find something relevant."),
])
def test_requests_for_output_negative_advice_and_search_pointers_are_no_answer(question, response):
    msgs = accepted(question, response)
    assert answers.non_answer_reason(answers.features(msgs, 1, "kayde", 1)) is not None
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == []


@pytest.mark.parametrize("response", ["kayde: don't start it with sudo - use gksudo",
                                      "kayde: do not run gedit as root, instead run gksudo gedit /etc/fstab"])
def test_dont_followed_by_what_to_do_still_answers(response):
    msgs = accepted("How can I edit a text file that requires root access with a gui editor?", response)
    assert answers.non_answer_reason(answers.features(msgs, 1, "kayde", 1)) is None
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == [1]


def test_a_guess_anywhere_in_the_reply_is_no_answer_but_a_hedged_command_is():
    q = "hi, Gnome shell is a cpu hog with FGLRX installed, how to fix this problem? it uses 50% cpu"
    guess = accepted(q, "kayde, if anything graphic is using CPU, your graphic acceleration may be not working.")
    assert answers.resolving_answers(guess, "kayde", threaded=False) == []
    command = accepted(q, "kayde: i think you should try sudo apt-get --purge remove fglrx ; sudo apt-get install fglrx")
    assert answers.resolving_answers(command, "kayde", threaded=False) == [1]


def test_two_unrelated_questions_in_one_opening_give_no_pair():
    msgs = [m(0, "kayde", "Hidden folders start with a dot, right? If I rename foo to .foo will programs still find it?"),
            m(1, "kayde", "which distro is for women?"),
            m(2, "ompaul", "kayde, you may have to modify all the programs as they look for /foo/ not /.foo/"),
            m(3, "kayde", "ompaul: thanks")]
    assert answers.flat_opening_reason(msgs, "kayde") == "two_questions"
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == []
    same = [m(0, "kayde", "which package provides libtermcap.so ?"),
            m(1, "kayde", "which package provides libtermcap.so.2 ?"),
            m(2, "ompaul", "kayde: install apt-file, do apt-file update and apt-file search libtermcap.so.2"),
            m(3, "kayde", "ompaul: thanks")]
    assert answers.flat_opening_reason(same, "kayde") is None
    assert answers.resolving_answers(same, "kayde", threaded=False) == [2]


def test_an_opening_that_points_at_an_earlier_message_is_not_self_contained():
    msgs = accepted("this is the OS I want drivers from, where are they stored?",
                    "kayde: they're part of the kernel usually, identify your wifi card and find a suitable package")
    assert answers.flat_opening_reason(msgs, "kayde") == "continues_earlier_message"
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == []


def test_a_reply_after_the_askers_new_follow_up_question_answers_that_one():
    """"will kde make ubuntu slower?" … "okey what is the best way to install kde?" → "install kubuntu-desktop":
    the reply answers the follow-up, not the opening; the opening asked again still counts."""
    msgs = [m(0, "kayde", "if i install the kde window manager will it make ubuntu much slower or not affect performance?"),
            m(1, "ompaul", "kayde: it uses a bit more memory, nothing dramatic"),
            m(2, "kayde", "okey what is the best way to get it from the software manager?"),
            m(3, "ompaul", "kayde, install kubuntu-desktop for all kde/kubuntu stuff"),
            m(4, "kayde", "ompaul: thanks!")]
    assert answers.flat_pair_reason(msgs, 3, "kayde", 1) == "answers_a_follow_up"
    assert 3 not in answers.resolving_answers(msgs, "kayde", threaded=False)
    again = [m(0, "kayde", "Soory... how can I execute/run a .sh script ?"),
             m(1, "jrib", "kayde: what?"),
             m(2, "kayde", "Soorry... how can I execute/run a .sh script ?!!!!!!!!!!"),
             m(3, "ompaul", "kayde: sh /path/to/script.sh   make sure you understand what it does"),
             m(4, "kayde", "ompaul: thanks")]
    assert answers.resolving_answers(again, "kayde", threaded=False) == [3]


def test_an_answer_that_was_only_personal_data_is_dropped_after_masking():
    """"I'm behind a gateway. How can I check my external IP?" → "Kibbles-> 84.12.7.9": masked, the response is
    "Kibbles-> [IP]" and teaches nothing."""
    from ingest.datasets.examples import Example
    from ingest.datasets.quality import QualityRules, assess, mask_example

    def qa(answer: str) -> Example:
        return Example(example_id="x", kind="qa", conversation_id="c", channel_id="C9", channel_name="irc",
                       channel_kind="public", messages=[
                           {"role": "user", "content": "I'm behind a gateway. How can I check my external IP?"},
                           {"role": "assistant", "content": answer}], source_ts=["1"], permalinks=[], first_ts="1")
    masked = qa("Kibbles-> 84.12.7.9")
    mask_example(masked)
    assert masked.answer == "Kibbles-> [IP]"
    assert assess(masked, QualityRules()) == "answer_masked_away"
    kept = qa("Kibbles-> curl ifconfig.me prints it, e.g. 84.12.7.9")
    mask_example(kept)
    assert assess(kept, QualityRules()) != "answer_masked_away"


def test_a_short_clarifying_question_of_the_asker_is_no_new_question():
    msgs = [m(0, "kayde", "I run apache2 with the web root in my home folder, yet I get access forbidden for a sub "
                          "directory. Why and how can I fix it?"),
            m(1, "ompaul", "kayde: Which user account is apache under? Your own?"),
            m(2, "kayde", "ompaul, how do I check that?"),
            m(3, "ompaul", "kayde: The user account for apache is www-data, you'd need to give that access to ~/web"),
            m(4, "kayde", "ompaul: thanks, that fixed it")]
    assert not answers.follow_up_before(msgs, 3, "kayde", 1)
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == [3]


def test_define_the_crash_please_asks_for_information():
    msgs = accepted("Anyone know anything about this xserver crash when trying to play videos on Hardy with an intel "
                    "GM955 card?", "kayde: define the crash pleas.e")
    assert answers.non_answer_reason(answers.features(msgs, 1, "kayde", 1)) == "request_for_information"
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == []


@pytest.mark.parametrize("question,response", [
    ("Does anybody have any ideas as to what the mysterious announcement from Canonical next week is about?",
     "kayde: though this is a discussion that would best be had in ubuntu-offtopic"),
    ("Please...I just upgraded to Dapper, and now, when I boot my X server fails to start with a blank screen, help?",
     "kayde: the only thing i can think to do is to dpkg-reconfigure xserver-xorg and restart the X server"),
])
def test_offtopic_redirects_and_last_resort_guesses_give_no_pair(question, response):
    """Session 4's report-2 misses (read then, tuned on now): a redirect to offtopic, a last-resort guess."""
    msgs = accepted(question, response)
    assert answers.non_answer_reason(answers.features(msgs, 1, "kayde", 1)) in ("redirect_without_answer",
                                                                                "helper_unsure")
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == []


def test_better_than_x_continues_a_comparison_made_elsewhere():
    """"better than thunderbird?" (session 4 report-2, read again in pairs5-tune-c): the thing compared is elsewhere."""
    msgs = accepted("better than thunderbird?", "kayde: i didn't like thunderbird's rss reader")
    assert answers.flat_opening_reason(msgs, "kayde") == "continues_earlier_message"
    assert answers.resolving_answers(msgs, "kayde", threaded=False) == []


@pytest.mark.parametrize("response", [
    "kayde, yes, still, im unsure why, if i were you, i would disable all of the repos except one, then update it",
    "kayde: if you can figure out a way to get a number for the difference between two files it ought to be possible",
])
def test_unsure_and_ought_to_be_possible_are_no_answer(response):
    msgs = accepted("anybody knows how to manually download apt-get upgrades, or scan files for the smallest diff?",
                    response)
    assert answers.non_answer_reason(answers.features(msgs, 1, "kayde", 1)) == "helper_unsure"
