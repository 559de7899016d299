/*
 * The hub's channel registry (src/hub/channels.h): followers on lists,
 * channels found by name through the hash table, also past its growth,
 * and pruned only once nobody follows them.  Each case is a script of
 * steps on a fresh registry with FOLLOWERS followers.
 */
#include "testutil.h"

#include "channels.h"

enum { FOLLOWERS = 4, MANY = 1000 };

enum op {
	END,
	FOLLOW,     /* follower f follows channel name (created with after) */
	LEAVE,      /* follower f follows nothing */
	PRUNE,
	EXPECT,     /* channel name has n followers (-1: not in the registry) */
	EXPECT_AT,  /* channel name exists with feed position after */
	COUNT,      /* the registry holds n channels */
};

struct step {
	enum op op;
	int f;
	const char *name;
	long long n;
};

struct channels_case {
	const char *what;
	struct step steps[12];
};

static const struct channels_case cases[] = {
	{ "a new channel starts at the first follower's position",
	  { { FOLLOW, 0, "chat", 7 }, { EXPECT, 0, "chat", 1 },
	    { EXPECT_AT, 0, "chat", 7 }, { COUNT, 0, NULL, 1 } } },
	{ "a second follower joins, the position stays the channel's",
	  { { FOLLOW, 0, "chat", 7 }, { FOLLOW, 1, "chat", 99 },
	    { EXPECT, 0, "chat", 2 }, { EXPECT_AT, 0, "chat", 7 } } },
	{ "moving a follower takes it off its old list",
	  { { FOLLOW, 0, "a", 0 }, { FOLLOW, 1, "a", 0 }, { FOLLOW, 0, "b", 0 },
	    { EXPECT, 0, "a", 1 }, { EXPECT, 0, "b", 1 } } },
	{ "leaving twice is harmless",
	  { { FOLLOW, 0, "a", 0 }, { LEAVE, 0, NULL, 0 }, { LEAVE, 0, NULL, 0 },
	    { EXPECT, 0, "a", 0 } } },
	{ "an empty channel stays until pruned, then is gone",
	  { { FOLLOW, 0, "a", 0 }, { FOLLOW, 1, "b", 0 }, { LEAVE, 0, NULL, 0 },
	    { COUNT, 0, NULL, 2 }, { PRUNE, 0, NULL, 0 }, { EXPECT, 0, "a", -1 },
	    { EXPECT, 0, "b", 1 }, { COUNT, 0, NULL, 1 } } },
	{ "a pruned name comes back as a new channel at its new position",
	  { { FOLLOW, 0, "a", 5 }, { LEAVE, 0, NULL, 0 }, { PRUNE, 0, NULL, 0 },
	    { FOLLOW, 0, "a", 9 }, { EXPECT_AT, 0, "a", 9 } } },
	{ "names differ by one byte, or are prefixes",
	  { { FOLLOW, 0, "user-1", 0 }, { FOLLOW, 1, "user-10", 0 },
	    { FOLLOW, 2, "user-2", 0 }, { EXPECT, 0, "user-1", 1 },
	    { EXPECT, 0, "user-10", 1 }, { EXPECT, 0, "user-", -1 },
	    { COUNT, 0, NULL, 3 } } },
	{ "unknown in an empty registry", { { EXPECT, 0, "chat", -1 } } },
};

static struct follower followers[FOLLOWERS];

static long long followers_of(struct channel *ch)
{
	long long n = 0;
	for (struct follower *f = ch->first; f != NULL; f = f->next) {
		assert_ptr_equal(f->channel, ch);
		assert_true(f->next == NULL || f->next->prev == f);
		n++;
	}
	return n;
}

static void run_step(struct channels *reg, const struct step *st)
{
	struct channel *ch;
	switch (st->op) {
	case END:
		break;
	case FOLLOW:
		ch = channels_get(reg, st->name, st->n);
		assert_non_null(ch);
		channel_add(ch, &followers[st->f]);
		break;
	case LEAVE:
		channel_remove(&followers[st->f]);
		assert_null(followers[st->f].channel);
		break;
	case PRUNE:
		channels_prune(reg);
		break;
	case EXPECT:
		ch = channels_find(reg, st->name);
		if (st->n < 0)
			assert_null(ch);
		else if (ch == NULL)
			fail_msg("channel %s is not in the registry", st->name);
		else
			assert_int_equal(followers_of(ch), st->n);
		break;
	case EXPECT_AT:
		ch = channels_find(reg, st->name);
		assert_non_null(ch);
		assert_int_equal(ch->fc.after, st->n);
		assert_ptr_equal(channel_of(&ch->fc), ch);
		break;
	case COUNT:
		assert_int_equal(reg->count, st->n);
		break;
	}
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct channels reg = { 0 };
		memset(followers, 0, sizeof(followers));
		const struct step *st = cases[i].steps;
		for (; st->op != END; st++)
			run_step(&reg, st);
		for (int f = 0; f < FOLLOWERS; f++)
			channel_remove(&followers[f]);
		channels_free(&reg);
		assert_int_equal(reg.count, 0);
	}
}

/* Past several doublings of the table every name is still found, once. */
static void test_many_channels(void **state)
{
	(void)state;
	struct channels reg = { 0 };
	static struct follower many[MANY];
	char name[32];
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "user-%d", i);
		struct channel *ch = channels_get(&reg, name, i);
		assert_non_null(ch);
		channel_add(ch, &many[i]);
	}
	assert_int_equal(reg.count, MANY);
	assert_true(reg.nbuckets >= MANY);
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "user-%d", i);
		struct channel *ch = channels_find(&reg, name);
		assert_non_null(ch);
		assert_int_equal(ch->fc.after, i);
		assert_ptr_equal(ch->first, &many[i]);
	}
	for (int i = 0; i < MANY; i += 2)
		channel_remove(&many[i]);
	channels_prune(&reg);
	assert_int_equal(reg.count, MANY / 2);
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "user-%d", i);
		if (i % 2 == 0)
			assert_null(channels_find(&reg, name));
		else
			assert_non_null(channels_find(&reg, name));
	}
	for (int i = 1; i < MANY; i += 2)
		channel_remove(&many[i]);
	channels_free(&reg);
	assert_null(reg.buckets);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_many_channels),
	};
	return cmocka_run_group_tests_name("the hub's channel registry", tests, NULL, NULL);
}
