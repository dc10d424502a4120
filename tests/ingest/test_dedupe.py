from ingest.dedupe import NearDuplicateIndex, find_near_duplicates

ANNOUNCEMENT = ("Reminder: the office is closed on Friday for the public holiday. Please plan your deliveries "
                "and on-call handovers accordingly, and enjoy the long weekend!")


def test_repeated_announcement_with_small_changes_is_a_near_duplicate():
    items = [("a", ANNOUNCEMENT), ("b", "How do I claim expenses for a client dinner in Berlin next week?"),
             ("c", ANNOUNCEMENT.replace("Friday", "Monday")), ("d", ANNOUNCEMENT + " :palm_tree:")]
    assert find_near_duplicates(items) == {"c": "a", "d": "a"}


def test_short_messages_are_never_duplicates():
    index = NearDuplicateIndex()
    assert index.add("1", "thanks!") is None and index.add("2", "thanks!") is None


def test_different_texts_on_the_same_topic_are_kept():
    a = "The VPN client needs version 5.2 or newer; older versions fail the posture check on macOS."
    b = "Our VPN posture check fails on Windows laptops without disk encryption turned on, see IT ticket."
    assert find_near_duplicates([("a", a), ("b", b)]) == {}


def test_quoting_an_earlier_message_does_not_make_a_reply_a_duplicate():
    reply = "> " + ANNOUNCEMENT + "\nDoes this include the Berlin office too?"
    assert find_near_duplicates([("a", ANNOUNCEMENT), ("b", reply)]) == {}
