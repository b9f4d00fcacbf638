/* events_incremental's fast path: lines that are a Segment message, a batch envelope or a
 * Blotout payload whose every field is plain (no escapes, no odd types, `properties`, `traits`
 * and items in the JSON writer's own form, times in the collector's ISO form) and that break no
 * rule are flattened here, into Arrow columns, at a fraction of the flatten statement's cost
 * (bench/README.md). Every other line goes to the statement, which stays
 * the definition of the flatten: a line is taken here only where the result is the statement's
 * by construction, and tests/unit/engine/test_fast_flatten.py checks that, line for line.
 *
 * A line is read once, into spans of its own text (or of a scratch copy where a value was
 * changed: lowered, `+` made a space); the spans are copied into Arrow string columns at the
 * end, so the GIL is released for all the reading.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- output columns (their order is cdpflow.engine.fast_flatten.STRING_COLUMNS) ---------- */
enum {
    C_EVENT_ID, C_EVENT_TYPE, C_EVENT_NAME, C_ANONYMOUS_ID, C_USER_ID, C_PREVIOUS_ID,
    C_GROUP_ID, C_SESSION_ID, C_URL, C_PATH, C_REFERRER, C_PAGE_TITLE, C_UTM_SOURCE,
    C_UTM_MEDIUM, C_UTM_CAMPAIGN, C_UTM_TERM, C_UTM_CONTENT, C_GCLID, C_FBCLID, C_MSCLKID,
    C_TTCLID, C_EMAIL, C_PHONE, C_ORDER_ID, C_CURRENCY, C_PROPERTIES, C_TRAITS, C_USER_AGENT,
    C_IP, C_SOURCE, C_MAP_ID, C_MAP_PROVIDER, C_PAYLOAD_FORMAT, N_STRINGS
};
enum { T_EVENT_TIME, T_RECEIVED_AT, T_SENT_AT, N_TIMES };

typedef struct { const char *p; int32_t n; } Str; /* n < 0: NULL */
static const Str NONE = {NULL, -1};

/* ---- fields read from a message ---------------------------------------------------------- */
enum {
    F_CDP_RECEIVED_AT, F_CDP_SOURCE, F_CDP_FORMAT, F_CDP_IP, F_CDP_USER_AGENT,
    F_SENT_AT, F_TYPE, F_MESSAGE_ID, F_ANONYMOUS_ID, F_USER_ID, F_PREVIOUS_ID, F_GROUP_ID,
    F_EVENT, F_NAME, F_TIMESTAMP, F_ORIGINAL_TIMESTAMP,
    F_CTX_SESSION_ID, F_CTX_USER_AGENT, F_CTX_IP,
    F_PAGE_URL, F_PAGE_PATH, F_PAGE_REFERRER, F_PAGE_TITLE, F_PAGE_SEARCH,
    F_CAMPAIGN_SOURCE, F_CAMPAIGN_MEDIUM, F_CAMPAIGN_NAME, F_CAMPAIGN_TERM, F_CAMPAIGN_CONTENT,
    F_CTX_TRAITS_EMAIL, F_CTX_TRAITS_PHONE,
    F_PROP_URL, F_PROP_PATH, F_PROP_REFERRER, F_PROP_TITLE, F_PROP_SEARCH, F_PROP_NAME,
    F_PROP_EMAIL, F_PROP_ORDER_ID, F_PROP_ORDER_ID_CAMEL, F_PROP_TRANSACTION_ID,
    F_PROP_REVENUE, F_PROP_TOTAL, F_PROP_VALUE, F_PROP_CURRENCY,
    F_TRAITS_EMAIL, F_TRAITS_PHONE,
    F_PROPERTIES, F_TRAITS, /* the objects' text */
    /* a Blotout payload's envelope, and each of its events */
    F_CDP_VISITOR_ID, F_META_USER_AGENT, F_META_REFERRER, F_META_PAGE_TITLE, F_META_SEARCH,
    F_B_MID, F_B_EVN, F_B_EVT, F_B_SCRN, F_B_SESSION_ID, F_B_USERID, F_B_DATA, F_B_PATH,
    F_B_TRANSACTION_ID, F_B_TRANSACTION_TOTAL, F_B_TRANSACTION_CURRENCY, F_B_PERSONA_ID,
    F_B_PERSONA_EMAIL, F_B_PERSONA_NUMBER, F_B_MAP_ID, F_B_MAP_PROVIDER,
    N_FIELDS
};

typedef struct Items Items;
typedef struct {
    Str v[N_FIELDS];
    int num[N_FIELDS];   /* the value was a JSON number (its text is in v) */
    int64_t size;        /* _cdp.size, -1 when missing */
    int has_events;      /* `events` was an array (its items are in *events) */
    int has_batch;       /* `batch` was an array (its items are in *events) */
    Items *events;
} Msg;
/* An item of a batch or a Blotout payload: its text (the JSON writer's, so its length is the
 * statement's) and its fields. */
typedef struct { Str text; Msg m; } Item;
struct Items { Item *items; int n, cap; int ok; };

/* A key of an object level, and what its value is: text (a plain string or an integer, as
 * DuckDB makes VARCHAR of it), any number, a nested level, `_cdp.size`, a JSON object whose
 * text is kept (and whose keys are read too), or a key that makes the line something else
 * than a single message (an envelope, a Blotout payload, an unreadable body). */
enum { K_TEXT, K_NUMBER, K_LEVEL, K_SIZE, K_JSON, K_EVENTS, K_BATCH, K_OTHER };
typedef struct Level Level;
typedef struct { const char *key; int kind; int field; const Level *sub; } Key;
struct Level { const Key *keys; int n; };

#define TEXT(name, field) {name, K_TEXT, field, NULL}
#define NUMBER(name, field) {name, K_NUMBER, field, NULL}
#define LEVEL(name, sub) {name, K_LEVEL, -1, &sub}
#define N_KEYS(keys) ((int)(sizeof keys / sizeof keys[0]))
static const Key CDP_KEYS[] = {
    TEXT("received_at", F_CDP_RECEIVED_AT), TEXT("source", F_CDP_SOURCE),
    TEXT("format", F_CDP_FORMAT), TEXT("ip", F_CDP_IP), TEXT("user_agent", F_CDP_USER_AGENT),
    {"size", K_SIZE, -1, NULL}, TEXT("visitor_id", F_CDP_VISITOR_ID),
};
static const Key META_KEYS[] = {
    TEXT("user_agent", F_META_USER_AGENT), TEXT("referrer", F_META_REFERRER),
    TEXT("page_title", F_META_PAGE_TITLE), TEXT("search", F_META_SEARCH),
};
static const Key DATA_KEYS[] = {
    TEXT("path", F_B_PATH), TEXT("transaction_id", F_B_TRANSACTION_ID),
    NUMBER("transaction_total", F_B_TRANSACTION_TOTAL),
    TEXT("transaction_currency", F_B_TRANSACTION_CURRENCY), TEXT("persona_id", F_B_PERSONA_ID),
    TEXT("persona_email", F_B_PERSONA_EMAIL), TEXT("persona_number", F_B_PERSONA_NUMBER),
    TEXT("map_id", F_B_MAP_ID), TEXT("map_provider", F_B_MAP_PROVIDER),
};
static const Level META = {META_KEYS, N_KEYS(META_KEYS)}, DATA = {DATA_KEYS, N_KEYS(DATA_KEYS)};
static const Key ITEM_KEYS[] = {
    TEXT("mid", F_B_MID), TEXT("evn", F_B_EVN), NUMBER("evt", F_B_EVT), TEXT("scrn", F_B_SCRN),
    TEXT("session_id", F_B_SESSION_ID), TEXT("userid", F_B_USERID),
    {"additionalData", K_JSON, F_B_DATA, &DATA},
};
static const Level ITEM = {ITEM_KEYS, N_KEYS(ITEM_KEYS)};
static const Key PAGE_KEYS[] = {
    TEXT("url", F_PAGE_URL), TEXT("path", F_PAGE_PATH), TEXT("referrer", F_PAGE_REFERRER),
    TEXT("title", F_PAGE_TITLE), TEXT("search", F_PAGE_SEARCH),
};
static const Key CAMPAIGN_KEYS[] = {
    TEXT("source", F_CAMPAIGN_SOURCE), TEXT("medium", F_CAMPAIGN_MEDIUM),
    TEXT("name", F_CAMPAIGN_NAME), TEXT("term", F_CAMPAIGN_TERM),
    TEXT("content", F_CAMPAIGN_CONTENT),
};
static const Key CTX_TRAITS_KEYS[] = {
    TEXT("email", F_CTX_TRAITS_EMAIL), TEXT("phone", F_CTX_TRAITS_PHONE),
};
static const Level CDP = {CDP_KEYS, N_KEYS(CDP_KEYS)}, PAGE = {PAGE_KEYS, N_KEYS(PAGE_KEYS)},
                   CAMPAIGN = {CAMPAIGN_KEYS, N_KEYS(CAMPAIGN_KEYS)},
                   CTX_TRAITS = {CTX_TRAITS_KEYS, N_KEYS(CTX_TRAITS_KEYS)};
static const Key CONTEXT_KEYS[] = {
    TEXT("sessionId", F_CTX_SESSION_ID), LEVEL("page", PAGE), LEVEL("campaign", CAMPAIGN),
    LEVEL("traits", CTX_TRAITS), TEXT("userAgent", F_CTX_USER_AGENT), TEXT("ip", F_CTX_IP),
};
static const Key PROP_KEYS[] = {
    TEXT("url", F_PROP_URL), TEXT("path", F_PROP_PATH), TEXT("referrer", F_PROP_REFERRER),
    TEXT("title", F_PROP_TITLE), TEXT("search", F_PROP_SEARCH), TEXT("name", F_PROP_NAME),
    TEXT("email", F_PROP_EMAIL), TEXT("order_id", F_PROP_ORDER_ID),
    TEXT("orderId", F_PROP_ORDER_ID_CAMEL), TEXT("transaction_id", F_PROP_TRANSACTION_ID),
    NUMBER("revenue", F_PROP_REVENUE), NUMBER("total", F_PROP_TOTAL),
    NUMBER("value", F_PROP_VALUE), TEXT("currency", F_PROP_CURRENCY),
};
static const Key TRAITS_KEYS[] = {TEXT("email", F_TRAITS_EMAIL), TEXT("phone", F_TRAITS_PHONE)};
static const Level CONTEXT = {CONTEXT_KEYS, N_KEYS(CONTEXT_KEYS)},
                   PROPS = {PROP_KEYS, N_KEYS(PROP_KEYS)},
                   TRAITS = {TRAITS_KEYS, N_KEYS(TRAITS_KEYS)};
static const Key TOP_KEYS[] = {
    LEVEL("_cdp", CDP), TEXT("sentAt", F_SENT_AT), TEXT("type", F_TYPE),
    TEXT("messageId", F_MESSAGE_ID), TEXT("anonymousId", F_ANONYMOUS_ID),
    TEXT("userId", F_USER_ID), TEXT("previousId", F_PREVIOUS_ID), TEXT("groupId", F_GROUP_ID),
    TEXT("event", F_EVENT), TEXT("name", F_NAME), TEXT("timestamp", F_TIMESTAMP),
    TEXT("originalTimestamp", F_ORIGINAL_TIMESTAMP), LEVEL("context", CONTEXT),
    {"properties", K_JSON, F_PROPERTIES, &PROPS}, {"traits", K_JSON, F_TRAITS, &TRAITS},
    {"batch", K_BATCH, -1, NULL}, {"_raw", K_OTHER, -1, NULL}, LEVEL("meta", META),
    {"events", K_EVENTS, -1, NULL},
};
static const Level TOP = {TOP_KEYS, N_KEYS(TOP_KEYS)};
/* A message in a batch: the keys of a single message but the envelope's own. */
static const Key BATCH_ITEM_KEYS[] = {
    TEXT("sentAt", F_SENT_AT), TEXT("type", F_TYPE), TEXT("messageId", F_MESSAGE_ID),
    TEXT("anonymousId", F_ANONYMOUS_ID), TEXT("userId", F_USER_ID),
    TEXT("previousId", F_PREVIOUS_ID), TEXT("groupId", F_GROUP_ID), TEXT("event", F_EVENT),
    TEXT("name", F_NAME), TEXT("timestamp", F_TIMESTAMP),
    TEXT("originalTimestamp", F_ORIGINAL_TIMESTAMP), LEVEL("context", CONTEXT),
    {"properties", K_JSON, F_PROPERTIES, &PROPS}, {"traits", K_JSON, F_TRAITS, &TRAITS},
};
static const Level BATCH_ITEM = {BATCH_ITEM_KEYS, N_KEYS(BATCH_ITEM_KEYS)};

/* ---- a validating JSON scanner ----------------------------------------------------------- */
typedef struct { const char *s, *end; int canonical; int depth; } Scan;

static inline void ws(Scan *c) {
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r')) {
        c->canonical = 0;
        c->s++;
    }
}

/* A string at c->s (its opening quote): its content span; *plain when it has no escape. An
 * escape other than those the JSON writer itself writes makes the text not canonical. */
/* The bytes that end a plain run of a string: the quote, the backslash, control characters. */
static unsigned char STOP[256];

static int string(Scan *c, Str *out, int *plain) {
    const char *p = ++c->s;
    *plain = 1;
    while (p < c->end) {
        while (p + 4 <= c->end && !STOP[(unsigned char)p[0]] && !STOP[(unsigned char)p[1]] &&
               !STOP[(unsigned char)p[2]] && !STOP[(unsigned char)p[3]])
            p += 4;
        while (p < c->end && !STOP[(unsigned char)*p]) p++;
        if (p >= c->end) return 0;
        unsigned char ch = (unsigned char)*p;
        if (ch == '"') {
            out->p = c->s;
            out->n = (int32_t)(p - c->s);
            c->s = p + 1;
            return 1;
        }
        if (ch < 0x20) return 0;
        if (ch == '\\') {
            *plain = 0;
            if (p + 1 >= c->end) return 0;
            char e = p[1];
            if (e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
                p += 2;
            } else if (e == '/') {
                c->canonical = 0;
                p += 2;
            } else if (e == 'u') {
                c->canonical = 0;
                if (p + 6 > c->end) return 0;
                for (int i = 2; i < 6; i++) {
                    char h = p[i];
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                        return 0;
                }
                p += 6;
            } else {
                return 0;
            }
            continue;
        }
        p++;
    }
    return 0;
}

/* A number: *integer when it has no fraction or exponent. Canonical when the JSON writer
 * would write the same text back: an integer of at most 18 digits (not -0); a whole number
 * written `N.0`; or a decimal of at most 15 significant digits without trailing zeros,
 * exponent or tiny magnitude (the shortest text of its double, as the writer prints it). */
static int number(Scan *c, Str *out, int *integer) {
    const char *p = c->s, *start = c->s;
    int neg = 0;
    if (p < c->end && *p == '-') { neg = 1; p++; }
    if (p >= c->end) return 0;
    const char *int_start = p;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < c->end && *p >= '0' && *p <= '9') p++;
    } else {
        return 0;
    }
    int int_digits = (int)(p - int_start);
    int frac_digits = 0, leading_zeros = 0, exp = 0;
    const char *frac_start = NULL;
    if (p < c->end && *p == '.') {
        p++;
        frac_start = p;
        while (p < c->end && *p >= '0' && *p <= '9') p++;
        frac_digits = (int)(p - frac_start);
        if (!frac_digits) return 0;
        while (leading_zeros < frac_digits && frac_start[leading_zeros] == '0') leading_zeros++;
    }
    if (p < c->end && (*p == 'e' || *p == 'E')) {
        exp = 1;
        p++;
        if (p < c->end && (*p == '+' || *p == '-')) p++;
        const char *d = p;
        while (p < c->end && *p >= '0' && *p <= '9') p++;
        if (p == d) return 0;
    }
    *integer = !frac_start && !exp;
    if (*integer) {
        if (int_digits > 18 || (neg && int_digits == 1 && *int_start == '0')) c->canonical = 0;
    } else if (exp || int_digits > 15) {
        c->canonical = 0;
    } else if (frac_digits == 1 && *frac_start == '0') {
        if (neg && int_digits == 1 && *int_start == '0') c->canonical = 0; /* -0.0 */
    } else if (frac_start[frac_digits - 1] == '0') {
        c->canonical = 0;
    } else {
        int zero_int = int_digits == 1 && *int_start == '0';
        int significant = zero_int ? frac_digits - leading_zeros : int_digits + frac_digits;
        if (significant > 15 || (zero_int && leading_zeros > 3)) c->canonical = 0;
    }
    out->p = start;
    out->n = (int32_t)(p - start);
    c->s = p;
    return 1;
}

static int value(Scan *c);

static int literal(Scan *c, const char *word, int n) {
    if (c->end - c->s < n || memcmp(c->s, word, (size_t)n) != 0) return 0;
    c->s += n;
    return 1;
}

/* Any value, validated (its text stays in the input). */
static int value(Scan *c) {
    if (c->s >= c->end) return 0;
    char ch = *c->s;
    Str s;
    int flag;
    if (ch == '"') return string(c, &s, &flag);
    if (ch == '{' || ch == '[') {
        if (++c->depth > 64) return 0;
        char close = ch == '{' ? '}' : ']';
        c->s++;
        ws(c);
        if (c->s < c->end && *c->s == close) { c->s++; c->depth--; return 1; }
        for (;;) {
            if (ch == '{') {
                if (c->s >= c->end || *c->s != '"' || !string(c, &s, &flag)) return 0;
                ws(c);
                if (c->s >= c->end || *c->s != ':') return 0;
                c->s++;
                ws(c);
            }
            if (!value(c)) return 0;
            ws(c);
            if (c->s >= c->end) return 0;
            if (*c->s == ',') { c->s++; ws(c); continue; }
            if (*c->s == close) { c->s++; c->depth--; return 1; }
            return 0;
        }
    }
    if (ch == 't') return literal(c, "true", 4);
    if (ch == 'f') return literal(c, "false", 5);
    if (ch == 'n') return literal(c, "null", 4);
    return number(c, &s, &flag);
}

static inline int key_is(Str k, const char *name) {
    /* names are short literals: compare the first byte before their length */
    if (k.n <= 0 || k.p[0] != name[0]) return 0;
    size_t n = strlen(name);
    return (size_t)k.n == n && memcmp(k.p, name, n) == 0;
}

/* A wanted scalar: a plain string (or an integer, whose text is what DuckDB makes of it; any
 * number for `numbers`), or null. Anything else is for the statement. */
static int scalar(Scan *c, Msg *m, int field, int numbers) {
    Str s;
    int flag;
    char ch = *c->s;
    if (ch == '"') {
        if (!string(c, &s, &flag) || !flag) return 0;
        m->v[field] = s;
        return 1;
    }
    if (ch == 'n') {
        if (!literal(c, "null", 4)) return 0;
        m->v[field] = NONE;
        return 1;
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        if (!number(c, &s, &flag)) return 0; /* inside `properties` its form counts too */
        if (!numbers && (!flag || s.n > 18 || (s.n == 2 && s.p[0] == '-' && s.p[1] == '0')))
            return 0;
        if (numbers && !flag && s.n > 40) return 0;
        m->v[field] = s;
        m->num[field] = 1;
        return 1;
    }
    return 0;
}

/* `_cdp.size`: a whole number of bytes. */
static int size(Scan *c, Msg *m) {
    Str s;
    int integer;
    if (!(*c->s >= '0' && *c->s <= '9') || !number(c, &s, &integer) || !integer || s.n > 15)
        return 0;
    int64_t bytes = 0;
    for (int j = 0; j < s.n; j++) bytes = bytes * 10 + (s.p[j] - '0');
    m->size = bytes;
    return 1;
}

static int level(Scan *c, Msg *m, const Level *lv);

/* A Blotout payload's `events` or an envelope's `batch`: an array of objects, each written
 * back by the JSON writer as it is (its length counts against the size limit), read with the
 * keys of `lv`. Anything else is for the statement. */
static int items_of(Scan *c, Msg *m, const Level *lv) {
    if (*c->s != '[' || ++c->depth > 64 || m->has_events || m->has_batch) return 0;
    Items *items = m->events;
    c->s++;
    ws(c);
    *(lv == &ITEM ? &m->has_events : &m->has_batch) = 1;
    if (c->s < c->end && *c->s == ']') { c->s++; c->depth--; return 1; }
    for (;;) {
        if (c->s >= c->end || *c->s != '{') return 0;
        if (items->n == items->cap) {
            int cap = items->cap ? 2 * items->cap : 16;
            Item *grown = realloc(items->items, (size_t)cap * sizeof(Item));
            if (!grown) { items->ok = 0; return 0; }
            items->items = grown;
            items->cap = cap;
        }
        Item *item = &items->items[items->n];
        Msg *one = &item->m;
        for (int i = 0; i < N_FIELDS; i++) { one->v[i] = NONE; one->num[i] = 0; }
        one->size = -1;
        one->has_events = one->has_batch = 0;
        one->events = NULL; /* an item's own `events` or `batch` is not read */
        const char *start = c->s;
        int saved = c->canonical;
        c->canonical = 1;
        if (!level(c, one, lv) || !c->canonical) return 0;
        c->canonical = saved;
        item->text.p = start;
        item->text.n = (int32_t)(c->s - start);
        items->n++;
        ws(c);
        if (c->s >= c->end) return 0;
        if (*c->s == ',') { c->s++; ws(c); continue; }
        if (*c->s == ']') { c->s++; c->depth--; return 1; }
        return 0;
    }
}

/* `properties` or `traits`: null, or an object whose text the JSON writer would write back
 * as it is (so the output is the text itself); its wanted keys are read too. */
static int json_object(Scan *c, Msg *m, const Level *lv, int field) {
    if (*c->s == 'n') {
        if (!literal(c, "null", 4)) return 0;
        m->v[field] = NONE;
        return 1;
    }
    if (*c->s != '{') return 0;
    const char *start = c->s;
    int saved = c->canonical;
    c->canonical = 1;
    if (!level(c, m, lv) || !c->canonical) return 0;
    c->canonical = saved;
    m->v[field].p = start;
    m->v[field].n = (int32_t)(c->s - start);
    return 1;
}

/* An object of wanted keys (each at most once: DuckDB takes the first of repeated keys, and
 * the fast path does not guess), or null; other keys' values are validated and skipped. */
static int level(Scan *c, Msg *m, const Level *lv) {
    if (*c->s == 'n') return literal(c, "null", 4);
    if (*c->s != '{') return 0;
    if (++c->depth > 64) return 0;
    uint32_t seen = 0;
    c->s++;
    ws(c);
    if (c->s < c->end && *c->s == '}') { c->s++; c->depth--; return 1; }
    for (;;) {
        Str k;
        int plain;
        if (c->s >= c->end || *c->s != '"' || !string(c, &k, &plain) || !plain) return 0;
        ws(c);
        if (c->s >= c->end || *c->s != ':') return 0;
        c->s++;
        ws(c);
        if (c->s >= c->end) return 0;
        int i;
        for (i = 0; i < lv->n && !key_is(k, lv->keys[i].key); i++) {}
        if (i == lv->n) {
            if (!value(c)) return 0;
        } else {
            if (seen & (1u << i)) return 0;
            seen |= 1u << i;
            const Key *key = &lv->keys[i];
            int ok = 0;
            switch (key->kind) {
                case K_TEXT: ok = scalar(c, m, key->field, 0); break;
                case K_NUMBER: ok = scalar(c, m, key->field, 1); break;
                case K_LEVEL: ok = level(c, m, key->sub); break;
                case K_SIZE: ok = size(c, m); break;
                case K_JSON: ok = json_object(c, m, key->sub, key->field); break;
                case K_EVENTS: ok = m->events && items_of(c, m, &ITEM); break;
                case K_BATCH: ok = m->events && items_of(c, m, &BATCH_ITEM); break;
                default: ok = 0;
            }
            if (!ok) return 0;
        }
        ws(c);
        if (c->s >= c->end) return 0;
        if (*c->s == ',') { c->s++; ws(c); continue; }
        if (*c->s == '}') { c->s++; c->depth--; return 1; }
        return 0;
    }
}

/* A line that is one Segment message, read into `m`; 0 when the line is for the statement. */
static int parse_message(const char *line, int32_t n, Msg *m, Items *items) {
    Scan c = {line, line + n, 1, 0};
    for (int i = 0; i < N_FIELDS; i++) { m->v[i] = NONE; m->num[i] = 0; }
    m->size = -1;
    m->has_events = m->has_batch = 0;
    m->events = items;
    items->n = 0;
    if (n < 2 || *c.s != '{' || !level(&c, m, &TOP)) return 0;
    ws(&c);
    return c.s == c.end;
}

/* ---- values as the statement computes them ----------------------------------------------- */
static inline Str nullif_empty(Str s) { return s.n == 0 ? NONE : s; }

static inline Str first(Str a, Str b) { return a.n >= 0 ? a : b; }

static int is_ascii(Str s) {
    for (int32_t i = 0; i < s.n; i++)
        if ((unsigned char)s.p[i] >= 0x80) return 0;
    return 1;
}

static int digits(const char *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

static int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

#define MICROS_2000 INT64_C(946684800000000)
#define MICROS_2100 INT64_C(4102444800000000)
#define MICROS_DAY INT64_C(86400000000)

/* `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM|-HH:MM)` between 2000 and 2100, as DuckDB casts it
 * to a TIMESTAMPTZ; 0 for any other text (the statement decides those). */
static int timestamp(Str s, int64_t *micros) {
    const char *p = s.p;
    int n = s.n, y, mo, d, h, mi, sec;
    if (n < 20 || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':')
        return 0;
    if (!digits(p, 4, &y) || !digits(p + 5, 2, &mo) || !digits(p + 8, 2, &d) ||
        !digits(p + 11, 2, &h) || !digits(p + 14, 2, &mi) || !digits(p + 17, 2, &sec))
        return 0;
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > month_days[mo - 1] + (mo == 2 && leap)) return 0;
    int i = 19;
    int64_t frac = 0;
    if (i < n && p[i] == '.') {
        int k = 0;
        for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++, k++) frac = frac * 10 + (p[i] - '0');
        if (k < 1 || k > 6) return 0;
        for (; k < 6; k++) frac *= 10;
    }
    int64_t offset = 0;
    if (i < n && p[i] == 'Z') {
        i++;
    } else if (i + 6 == n && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
        int oh, om;
        if (!digits(p + i + 1, 2, &oh) || !digits(p + i + 4, 2, &om) || oh > 14 || om > 59)
            return 0;
        offset = (int64_t)(oh * 60 + om) * 60 * 1000000 * (p[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return 0;
    }
    if (i != n) return 0;
    int64_t t = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec;
    t = t * 1000000 + frac - offset;
    if (t < MICROS_2000 || t > MICROS_2100) return 0;
    *micros = t;
    return 1;
}

/* regexp_extract(url, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*([^?#]*)', 1) */
static Str url_path(Str u) {
    if (u.n < 0) return NONE;
    int32_t i = 0;
    Str empty = {u.p, 0};
    if (i >= u.n || !((u.p[i] | 0x20) >= 'a' && (u.p[i] | 0x20) <= 'z')) return empty;
    for (i++; i < u.n; i++) {
        char ch = u.p[i];
        if (!((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') && !(ch >= '0' && ch <= '9') &&
            ch != '+' && ch != '.' && ch != '-')
            break;
    }
    if (u.n - i < 3 || memcmp(u.p + i, "://", 3) != 0) return empty;
    for (i += 3; i < u.n && u.p[i] != '/' && u.p[i] != '?' && u.p[i] != '#'; i++) {}
    int32_t start = i;
    for (; i < u.n && u.p[i] != '?' && u.p[i] != '#'; i++) {}
    Str out = {u.p + start, i - start};
    return out;
}

/* regexp_extract(url, '\?([^#]*)', 1) */
static Str url_query(Str u) {
    if (u.n < 0) return NONE;
    int32_t i = 0;
    for (; i < u.n && u.p[i] != '?'; i++) {}
    if (i == u.n) { Str empty = {u.p, 0}; return empty; }
    int32_t start = ++i;
    for (; i < u.n && u.p[i] != '#'; i++) {}
    Str out = {u.p + start, i - start};
    return out;
}

/* CASE WHEN contains(q, 'k=') THEN regexp_extract(q, '(?:^|[?&#])k=([^&#]*)', 1) END */
static Str query_param(Str q, const char *key) {
    if (q.n < 0) return NONE;
    int32_t kn = (int32_t)strlen(key);
    for (int32_t p = 0; p + kn <= q.n; p++) {
        int32_t at = -1;
        if (p == 0 && memcmp(q.p, key, (size_t)kn) == 0) {
            at = kn;
        } else if ((q.p[p] == '?' || q.p[p] == '&' || q.p[p] == '#') && p + 1 + kn <= q.n &&
                   memcmp(q.p + p + 1, key, (size_t)kn) == 0) {
            at = p + 1 + kn;
        }
        if (at >= 0) {
            int32_t e = at;
            for (; e < q.n && q.p[e] != '&' && q.p[e] != '#'; e++) {}
            Str out = {q.p + at, e - at};
            return out;
        }
    }
    return NONE; /* contains(q, key) may hold without a match: '' then NULL, the same */
}

/* ---- values changed on the way --------------------------------------------------------- */
typedef struct { char *p; int64_t used, size; } Scratch;

/* A changed copy of `s` in scratch (NULL stays NULL). */
static Str changed(Scratch *bufs, Str s, int how) {
    if (s.n < 0) return s;
    char *out = bufs->p + bufs->used;
    for (int32_t i = 0; i < s.n; i++) {
        char ch = s.p[i];
        if (how == 'l' && ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
        else if (how == 'u' && ch >= 'a' && ch <= 'z') ch = (char)(ch - 32);
        else if (how == '+' && ch == '+') ch = ' ';
        out[i] = ch;
    }
    bufs->used += s.n;
    Str r = {out, s.n};
    return r;
}

static int needs(Str s, int how) {
    for (int32_t i = 0; i < s.n; i++) {
        char ch = s.p[i];
        if ((how == 'l' && ch >= 'A' && ch <= 'Z') || (how == 'u' && ch >= 'a' && ch <= 'z') ||
            (how == '+' && ch == '+'))
            return 1;
    }
    return 0;
}

static Str trim_spaces(Str s) {
    if (s.n < 0) return s;
    while (s.n > 0 && s.p[0] == ' ') { s.p++; s.n--; }
    while (s.n > 0 && s.p[s.n - 1] == ' ') s.n--;
    return s;
}

/* Whether a value trimmed of ASCII spaces starts or ends outside ASCII: DuckDB's trim also
   takes Unicode spaces off (U+00A0, U+3000, ...), so such a value is left to the statement. */
static int untrimmed_edges(Str s) {
    return s.n > 0 && (((unsigned char)s.p[0] & 0x80) || ((unsigned char)s.p[s.n - 1] & 0x80));
}

static int has(Str s, const char *needle) {
    int32_t k = (int32_t)strlen(needle);
    for (int32_t i = 0; i + k <= s.n; i++)
        if (memcmp(s.p + i, needle, (size_t)k) == 0) return 1;
    return 0;
}

/* A query parameter as the statement keeps it: '+' a space, %-escapes for the statement. */
static int param_value(Scratch *bufs, Str raw, Str *out) {
    *out = raw;
    if (raw.n < 0) return 1;
    for (int32_t i = 0; i < raw.n; i++)
        if (raw.p[i] == '%') return 0;
    if (needs(raw, '+')) *out = changed(bufs, raw, '+');
    *out = nullif_empty(*out);
    return 1;
}

/* `revenue`, `total`, `value` as try_cast(... AS DOUBLE): a JSON number or a plain decimal. */
static int as_double(Str s, int is_number, double *out, int *castable) {
    *castable = 0;
    if (s.n < 0) return 1;
    if (s.n > 40) return 0;
    if (!is_number) {
        int32_t i = s.p[0] == '-' ? 1 : 0, d = 0, dot = 0;
        for (; i < s.n; i++) {
            if (s.p[i] >= '0' && s.p[i] <= '9') d++;
            else if (s.p[i] == '.' && !dot && d) { dot = 1; d = 0; }
            else return 0; /* some other text: whether DuckDB casts it is its business */
        }
        if (!d) return 0;
    }
    char tmp[64];
    memcpy(tmp, s.p, (size_t)s.n);
    tmp[s.n] = 0;
    char *stop;
    *out = strtod(tmp, &stop);
    if (*stop || isinf(*out) || isnan(*out)) return 0;
    *castable = 1;
    return 1;
}

/* One row of the output: string values as spans (into a line or into scratch), copied into
 * Arrow's offsets and data once every line is read. */
typedef struct {
    Str s[N_STRINGS];
    int64_t t[N_TIMES];
    uint8_t has_t[N_TIMES], has_revenue;
    int32_t date;
    double revenue;
    int64_t line, item_index;
} Row;

typedef struct { Row *rows; int64_t n, cap; } Rows;

static const char *const CAMPAIGN_PARAMS[] = {"utm_source=", "utm_medium=", "utm_campaign=",
                                              "utm_term=", "utm_content="};
static const char *const CLICK_PARAMS[] = {"gclid=", "fbclid=", "msclkid=", "ttclid="};
static const Str WORD_SEGMENT = {"segment", 7}, WORD_BLOTOUT = {"blotout", 7};

/* `_cdp.received_at`: absent, or a time the statement reads the same way. */
static int received_time(const Msg *m, int64_t *received, int *has) {
    Str text = nullif_empty(m->v[F_CDP_RECEIVED_AT]);
    *has = text.n >= 0;
    return !*has || timestamp(text, received);
}

static void set_times(Row *row, int64_t event_time, int64_t received, int has_received,
                      int64_t sent, int has_sent) {
    row->t[T_EVENT_TIME] = event_time;
    row->has_t[T_EVENT_TIME] = 1;
    row->t[T_RECEIVED_AT] = has_received ? received : 0;
    row->has_t[T_RECEIVED_AT] = (uint8_t)has_received;
    row->t[T_SENT_AT] = has_sent ? sent : 0;
    row->has_t[T_SENT_AT] = (uint8_t)has_sent;
    row->date = (int32_t)(event_time / MICROS_DAY);
}

/* The utm tags (a campaign's own where given) and click ids of a query string. */
static int query_tags(Scratch *bufs, Str query, const Str *campaign, Str *utm, Str *clicks) {
    for (int i = 0; i < 5; i++) {
        if (campaign && campaign[i].n >= 0) utm[i] = campaign[i];
        else if (!param_value(bufs, query_param(query, CAMPAIGN_PARAMS[i]), &utm[i])) return 0;
    }
    for (int i = 0; i < 4; i++)
        if (!param_value(bufs, query_param(query, CLICK_PARAMS[i]), &clicks[i])) return 0;
    return 1;
}

/* A Segment message's row: a line's own (`item` NULL) or an item of its batch; 0 when the
 * message is the statement's. The envelope `env` has the collector's fields. */
static int segment_row(const Msg *env, const Item *item, int64_t max_event_bytes,
                       Scratch *bufs, Row *row) {
    const Str *v = item ? item->m.v : env->v;
    const int *num = item ? item->m.num : env->num;
    for (int f = F_CDP_RECEIVED_AT; f <= F_CDP_USER_AGENT; f++)
        if (env->num[f]) return 0;
    Str meta_user_agent = nullif_empty(env->v[F_CDP_USER_AGENT]);
    int64_t bytes = item ? item->text.n : env->size;
    if (bytes < 0) return 0; /* no `_cdp.size`: the statement measures the line */
    if (bytes + (meta_user_agent.n > 0 ? meta_user_agent.n : 0) > max_event_bytes) return 0;
    /* the identifiers: strings (checked by the scanner), not empty where required */
    Str type = nullif_empty(v[F_TYPE]);
    if (type.n < 0 || num[F_TYPE] || !is_ascii(type)) return 0;
    for (int f = F_MESSAGE_ID; f <= F_GROUP_ID; f++)
        if (num[f]) return 0; /* ids must be strings: the statement quarantines the rest */
    Str message_id = nullif_empty(v[F_MESSAGE_ID]);
    if (message_id.n < 0) return 0;
    Str anonymous_id = nullif_empty(v[F_ANONYMOUS_ID]), user_id = nullif_empty(v[F_USER_ID]);
    Str previous_id = nullif_empty(v[F_PREVIOUS_ID]), group_id = nullif_empty(v[F_GROUP_ID]);
    if (type.n > 8) return 0;
    Str type_ = needs(type, 'l') ? changed(bufs, type, 'l') : type;
    int track = key_is(type_, "track"), page = key_is(type_, "page");
    int screen = key_is(type_, "screen"), alias = key_is(type_, "alias");
    if (!track && !page && !screen && !alias && !key_is(type_, "identify") &&
        !key_is(type_, "group"))
        return 0;
    for (int f = F_EVENT; f < F_PROPERTIES; f++)
        if (num[f] && f != F_PROP_REVENUE && f != F_PROP_TOTAL && f != F_PROP_VALUE &&
            f != F_CTX_SESSION_ID && f != F_PROP_ORDER_ID && f != F_PROP_ORDER_ID_CAMEL &&
            f != F_PROP_TRANSACTION_ID)
            return 0;
    if (num[F_SENT_AT] || env->num[F_SENT_AT]) return 0;
    /* times; a batch item's sentAt, else its envelope's */
    Str client_text = first(nullif_empty(v[F_ORIGINAL_TIMESTAMP]), nullif_empty(v[F_TIMESTAMP]));
    Str sent_text = first(nullif_empty(v[F_SENT_AT]), nullif_empty(env->v[F_SENT_AT]));
    int64_t client, sent = 0, received = 0;
    if (client_text.n < 0 || !timestamp(client_text, &client)) return 0;
    int has_sent = sent_text.n >= 0, has_received;
    if (has_sent && !timestamp(sent_text, &sent)) return 0;
    if (!received_time(env, &received, &has_received)) return 0;
    int64_t skewed = has_sent && has_received ? received - (sent - client) : client;
    if (skewed < MICROS_2000 || skewed > MICROS_2100) return 0;
    int64_t event_time =
        has_received && skewed > received + 24 * INT64_C(3600000000) ? received : skewed;
    /* rules on presence */
    Str event = nullif_empty(v[F_EVENT]);
    if (anonymous_id.n < 0 && user_id.n < 0) return 0;
    if (track && event.n < 0) return 0;
    if (alias && previous_id.n < 0) return 0;
    double revenue = 0;
    int revenue_castable = 0;
    Str rev = nullif_empty(v[F_PROP_REVENUE]), total = nullif_empty(v[F_PROP_TOTAL]);
    Str val = nullif_empty(v[F_PROP_VALUE]);
    Str money = rev.n >= 0 ? rev : total.n >= 0 ? total : val;
    int money_number = rev.n >= 0 ? num[F_PROP_REVENUE]
                       : total.n >= 0 ? num[F_PROP_TOTAL] : num[F_PROP_VALUE];
    if (!as_double(money, money_number, &revenue, &revenue_castable)) return 0;
    Str properties = v[F_PROPERTIES], traits = v[F_TRAITS];
    if (has(properties, "\"writeKey\"") || has(traits, "\"writeKey\"")) return 0;
    /* page and campaign */
    Str prop_url = nullif_empty(v[F_PROP_URL]);
    Str url = first(nullif_empty(v[F_PAGE_URL]), prop_url);
    Str path = first(nullif_empty(v[F_PAGE_PATH]), nullif_empty(v[F_PROP_PATH]));
    if (path.n < 0) path = nullif_empty(url_path(url));
    Str referrer = first(nullif_empty(v[F_PAGE_REFERRER]), nullif_empty(v[F_PROP_REFERRER]));
    Str title = first(nullif_empty(v[F_PAGE_TITLE]), nullif_empty(v[F_PROP_TITLE]));
    Str query = first(nullif_empty(v[F_PAGE_SEARCH]), nullif_empty(v[F_PROP_SEARCH]));
    if (query.n < 0) query = nullif_empty(url_query(url));
    Str utm[5], clicks[4], campaign[5];
    for (int i = 0; i < 5; i++) campaign[i] = nullif_empty(v[F_CAMPAIGN_SOURCE + i]);
    if (!query_tags(bufs, query, campaign, utm, clicks)) return 0;
    /* people */
    Str email = first(nullif_empty(v[F_TRAITS_EMAIL]),
                      first(nullif_empty(v[F_CTX_TRAITS_EMAIL]), nullif_empty(v[F_PROP_EMAIL])));
    email = nullif_empty(trim_spaces(email));
    if (email.n > 0 && !is_ascii(email)) return 0;
    if (email.n > 0 && needs(email, 'l')) email = changed(bufs, email, 'l');
    Str phone = first(nullif_empty(v[F_TRAITS_PHONE]), nullif_empty(v[F_CTX_TRAITS_PHONE]));
    phone = nullif_empty(trim_spaces(phone));
    if (untrimmed_edges(phone)) return 0;
    Str order_id = first(nullif_empty(v[F_PROP_ORDER_ID]),
                         first(nullif_empty(v[F_PROP_ORDER_ID_CAMEL]),
                               nullif_empty(v[F_PROP_TRANSACTION_ID])));
    Str currency = nullif_empty(v[F_PROP_CURRENCY]);
    if (currency.n > 0 && !is_ascii(currency)) return 0;
    if (currency.n > 0 && needs(currency, 'u')) currency = changed(bufs, currency, 'u');
    /* what the rows hold */
    Str event_name;
    if (track) event_name = event;
    else if (page || screen) {
        event_name = first(nullif_empty(v[F_NAME]), nullif_empty(v[F_PROP_NAME]));
        if (event_name.n < 0) {
            static const char page_word[] = "page", screen_word[] = "screen";
            Str word = {page ? page_word : screen_word, page ? 4 : 6};
            event_name = word;
        }
    } else event_name = type_;
    Str user_agent = first(nullif_empty(v[F_CTX_USER_AGENT]), meta_user_agent);
    Str ip = first(nullif_empty(v[F_CTX_IP]), nullif_empty(env->v[F_CDP_IP]));
    Str source = nullif_empty(env->v[F_CDP_SOURCE]);

    Str *out = row->s;
    out[C_EVENT_ID] = message_id;
    out[C_EVENT_TYPE] = type_;
    out[C_EVENT_NAME] = event_name;
    out[C_ANONYMOUS_ID] = anonymous_id;
    out[C_USER_ID] = user_id;
    out[C_PREVIOUS_ID] = previous_id;
    out[C_GROUP_ID] = group_id;
    out[C_SESSION_ID] = nullif_empty(v[F_CTX_SESSION_ID]);
    out[C_URL] = url;
    out[C_PATH] = path;
    out[C_REFERRER] = referrer;
    out[C_PAGE_TITLE] = title;
    for (int i = 0; i < 5; i++) out[C_UTM_SOURCE + i] = utm[i];
    for (int i = 0; i < 4; i++) out[C_GCLID + i] = clicks[i];
    out[C_EMAIL] = email;
    out[C_PHONE] = phone;
    out[C_ORDER_ID] = order_id;
    out[C_CURRENCY] = currency;
    out[C_PROPERTIES] = properties;
    out[C_TRAITS] = traits;
    out[C_USER_AGENT] = user_agent;
    out[C_IP] = ip;
    out[C_SOURCE] = source;
    out[C_MAP_ID] = out[C_MAP_PROVIDER] = NONE;
    out[C_PAYLOAD_FORMAT] = WORD_SEGMENT;
    set_times(row, event_time, received, has_received, sent, has_sent);
    row->revenue = revenue;
    row->has_revenue = (uint8_t)revenue_castable;
    return 1;
}



/* A Blotout event's row; 0 when the event is the statement's (and with it the whole line). */
static int blotout_row(const Msg *m, const Item *item, int64_t max_event_bytes, Scratch *bufs,
                       Row *row) {
    const Str *v = item->m.v;
    Str meta_user_agent = nullif_empty(m->v[F_CDP_USER_AGENT]);
    if (item->text.n + (meta_user_agent.n > 0 ? meta_user_agent.n : 0) > max_event_bytes)
        return 0;
    if (item->m.num[F_B_MID] || item->m.num[F_B_EVN] || item->m.num[F_B_USERID] ||
        item->m.num[F_B_SCRN] || item->m.num[F_B_PATH] || item->m.num[F_B_TRANSACTION_CURRENCY] ||
        item->m.num[F_B_PERSONA_EMAIL] || item->m.num[F_B_PERSONA_NUMBER] ||
        item->m.num[F_B_MAP_PROVIDER])
        return 0;
    Str mid = nullif_empty(v[F_B_MID]), evn = nullif_empty(v[F_B_EVN]);
    if (mid.n < 0 || evn.n < 0) return 0;
    /* evt: milliseconds since the epoch, as try_cast(... AS DOUBLE) and to_timestamp read it */
    double ms;
    int castable;
    Str evt = nullif_empty(v[F_B_EVT]);
    if (evt.n < 0 || !as_double(evt, item->m.num[F_B_EVT], &ms, &castable) || !castable) return 0;
    if (!(ms >= 946684800000.0 && ms <= 4102444800000.0)) return 0;
    int64_t event_time = (int64_t)llrint((ms / 1000) * 1e6), received = 0;
    int has_received;
    if (!received_time(m, &received, &has_received)) return 0;
    if (has_received && event_time > received + 24 * INT64_C(3600000000)) event_time = received;
    Str anonymous_id = first(nullif_empty(v[F_B_USERID]), nullif_empty(m->v[F_CDP_VISITOR_ID]));
    if (anonymous_id.n < 0 || m->num[F_CDP_VISITOR_ID]) return 0;
    Str data = v[F_B_DATA];
    if (has(data, "\"writeKey\"")) return 0;
    Str total = nullif_empty(v[F_B_TRANSACTION_TOTAL]);
    double revenue = 0;
    int revenue_castable = 0;
    if (!as_double(total, item->m.num[F_B_TRANSACTION_TOTAL], &revenue, &revenue_castable))
        return 0;
    if (total.n >= 0 && !revenue_castable) return 0;
    int persona = key_is(evn, "persona"), transaction = key_is(evn, "transaction");
    int map = key_is(evn, "map_id");
    Str scrn = nullif_empty(v[F_B_SCRN]);
    Str path = nullif_empty(v[F_B_PATH]);
    if (path.n < 0) path = nullif_empty(url_path(scrn));
    Str query = nullif_empty(m->v[F_META_SEARCH]);
    if (query.n < 0) query = nullif_empty(url_query(scrn));
    Str utm[5], clicks[4];
    if (!query_tags(bufs, query, NULL, utm, clicks)) return 0;
    Str email = nullif_empty(trim_spaces(nullif_empty(v[F_B_PERSONA_EMAIL])));
    if (email.n > 0 && !is_ascii(email)) return 0;
    if (email.n > 0 && needs(email, 'l')) email = changed(bufs, email, 'l');
    Str phone = nullif_empty(trim_spaces(nullif_empty(v[F_B_PERSONA_NUMBER])));
    if (untrimmed_edges(phone)) return 0;
    Str currency = nullif_empty(v[F_B_TRANSACTION_CURRENCY]);
    if (transaction && currency.n > 0 && !is_ascii(currency)) return 0;
    if (transaction && currency.n > 0 && needs(currency, 'u'))
        currency = changed(bufs, currency, 'u');
    static const char page_word[] = "page", identify_word[] = "identify", track_word[] = "track";
    Str type = key_is(evn, "sdk_start") ? (Str){page_word, 4}
               : persona ? (Str){identify_word, 8} : (Str){track_word, 5};
    Str *out = row->s;
    for (int i = 0; i < N_STRINGS; i++) out[i] = NONE;
    out[C_EVENT_ID] = mid;
    out[C_EVENT_TYPE] = type;
    out[C_EVENT_NAME] = evn;
    out[C_ANONYMOUS_ID] = anonymous_id;
    out[C_USER_ID] = persona ? nullif_empty(v[F_B_PERSONA_ID]) : NONE;
    out[C_SESSION_ID] = nullif_empty(v[F_B_SESSION_ID]);
    out[C_URL] = scrn;
    out[C_PATH] = path;
    out[C_REFERRER] = nullif_empty(m->v[F_META_REFERRER]);
    out[C_PAGE_TITLE] = nullif_empty(m->v[F_META_PAGE_TITLE]);
    for (int i = 0; i < 5; i++) out[C_UTM_SOURCE + i] = utm[i];
    for (int i = 0; i < 4; i++) out[C_GCLID + i] = clicks[i];
    out[C_EMAIL] = email;
    out[C_PHONE] = phone;
    out[C_MAP_ID] = map ? nullif_empty(v[F_B_MAP_ID]) : NONE;
    out[C_MAP_PROVIDER] = map ? nullif_empty(v[F_B_MAP_PROVIDER]) : NONE;
    out[C_ORDER_ID] = transaction ? nullif_empty(v[F_B_TRANSACTION_ID]) : NONE;
    out[C_CURRENCY] = transaction ? currency : NONE;
    out[C_PROPERTIES] = data;
    out[C_TRAITS] = persona ? data : NONE;
    out[C_USER_AGENT] = first(nullif_empty(m->v[F_META_USER_AGENT]), meta_user_agent);
    out[C_IP] = nullif_empty(m->v[F_CDP_IP]);
    out[C_SOURCE] = nullif_empty(m->v[F_CDP_SOURCE]);
    out[C_PAYLOAD_FORMAT] = WORD_BLOTOUT;
    set_times(row, event_time, received, has_received, 0, 0);
    row->revenue = transaction && revenue_castable ? revenue : 0.0;
    row->has_revenue = (uint8_t)(transaction && revenue_castable);
    return 1;
}

static Row *next_row(Rows *rows) {
    if (rows->n == rows->cap) {
        int64_t cap = rows->cap ? 2 * rows->cap : 1024;
        Row *grown = realloc(rows->rows, (size_t)cap * sizeof(Row));
        if (!grown) return NULL;
        rows->rows = grown;
        rows->cap = cap;
    }
    return &rows->rows[rows->n];
}

/* The rows of one line, appended; 0 (nothing appended) when the line is the statement's, and
 * -1 when memory ran out. */
static int flatten_line(const char *line, int32_t n, int64_t line_index, int64_t max_event_bytes,
                        Scratch *bufs, Items *items, Rows *rows) {
    Msg m;
    if (!parse_message(line, n, &m, items)) return items->ok ? 0 : -1;
    Str format = m.v[F_CDP_FORMAT];
    int segment = format.n < 0 || key_is(format, "segment");
    if (!m.has_events && !m.has_batch) {
        /* a single message (`_cdp.format` says so, or it has no `batch` and no `events`) */
        if (!segment && !key_is(format, "segment_message")) return 0;
        Row *row = next_row(rows);
        if (!row) return -1;
        if (!segment_row(&m, NULL, max_event_bytes, bufs, row)) return 0;
        row->line = line_index;
        row->item_index = 0;
        rows->n++;
        return 1;
    }
    /* an envelope or a Blotout payload: every item is the fast path's, or the line is the
     * statement's; where the endpoint and the keys disagree the statement decides */
    if (m.has_batch && !(segment && nullif_empty(m.v[F_TYPE]).n < 0) &&
        !key_is(format, "segment_batch"))
        return 0;
    if (m.has_events && format.n >= 0 && !key_is(format, "blotout")) return 0;
    if (m.has_events && (m.num[F_CDP_USER_AGENT] || m.num[F_CDP_IP] || m.num[F_CDP_SOURCE] ||
                         m.num[F_CDP_RECEIVED_AT] || m.num[F_META_USER_AGENT] ||
                         m.num[F_META_SEARCH]))
        return 0;
    int64_t mark = rows->n;
    for (int i = 0; i < items->n; i++) {
        Row *row = next_row(rows);
        if (!row) { rows->n = mark; return -1; }
        int ok = m.has_events ? blotout_row(&m, &items->items[i], max_event_bytes, bufs, row)
                              : segment_row(&m, &items->items[i], max_event_bytes, bufs, row);
        if (!ok) {
            rows->n = mark;
            return 0;
        }
        row->line = line_index;
        row->item_index = i + 1;
        rows->n++;
    }
    return 1;
}

static PyObject *zeroed(Py_ssize_t n) {
    PyObject *b = PyBytes_FromStringAndSize(NULL, n);
    if (b) memset(PyBytes_AS_STRING(b), 0, (size_t)n);
    return b;
}

/* The string columns, each as (validity, offsets, data) bytes: two passes over the rows (their
 * lengths, then their values), not one per column. */
static PyObject *string_columns(const Rows *rows) {
    int64_t n = rows->n, total[N_STRINGS] = {0};
    for (int64_t r = 0; r < n; r++)
        for (int c = 0; c < N_STRINGS; c++)
            if (rows->rows[r].s[c].n > 0) total[c] += rows->rows[r].s[c].n;
    PyObject *list = PyList_New(N_STRINGS);
    if (!list) return NULL;
    uint8_t *bits[N_STRINGS];
    int32_t *offs[N_STRINGS], at[N_STRINGS];
    char *out[N_STRINGS];
    for (int c = 0; c < N_STRINGS; c++) {
        if (total[c] > INT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "a column of more than 2 GB");
            Py_DECREF(list);
            return NULL;
        }
        PyObject *valid = zeroed((n + 7) / 8), *offsets = zeroed((n + 1) * 4);
        PyObject *data = PyBytes_FromStringAndSize(NULL, total[c]);
        if (!valid || !offsets || !data) {
            Py_XDECREF(valid); Py_XDECREF(offsets); Py_XDECREF(data); Py_DECREF(list);
            return NULL;
        }
        bits[c] = (uint8_t *)PyBytes_AS_STRING(valid);
        offs[c] = (int32_t *)PyBytes_AS_STRING(offsets);
        out[c] = PyBytes_AS_STRING(data);
        at[c] = 0;
        PyObject *column = Py_BuildValue("(NNN)", valid, offsets, data);
        if (!column) { Py_DECREF(list); return NULL; }
        PyList_SET_ITEM(list, c, column);
    }
    for (int64_t r = 0; r < n; r++) {
        const Str *s = rows->rows[r].s;
        for (int c = 0; c < N_STRINGS; c++) {
            offs[c][r] = at[c];
            if (s[c].n < 0) continue;
            bits[c][r >> 3] |= (uint8_t)(1u << (r & 7));
            memcpy(out[c] + at[c], s[c].p, (size_t)s[c].n);
            at[c] += s[c].n;
        }
    }
    for (int c = 0; c < N_STRINGS; c++) offs[c][n] = at[c];
    return list;
}

/* The other columns: (validity, values) per time, the dates, the revenue, and each row's line
 * (its index among all lines) and item index. */
static PyObject *other_columns(const Rows *rows) {
    int64_t n = rows->n;
    PyObject *times = PyList_New(N_TIMES);
    if (!times) return NULL;
    for (int i = 0; i < N_TIMES; i++) {
        PyObject *valid = zeroed((n + 7) / 8), *values = zeroed(n * 8);
        if (!valid || !values) {
            Py_XDECREF(valid); Py_XDECREF(values); Py_DECREF(times);
            return NULL;
        }
        uint8_t *bits = (uint8_t *)PyBytes_AS_STRING(valid);
        int64_t *t = (int64_t *)PyBytes_AS_STRING(values);
        for (int64_t r = 0; r < n; r++) {
            t[r] = rows->rows[r].t[i];
            if (rows->rows[r].has_t[i]) bits[r >> 3] |= (uint8_t)(1u << (r & 7));
        }
        PyList_SET_ITEM(times, i, Py_BuildValue("(NN)", valid, values));
    }
    PyObject *dates = zeroed(n * 4), *revenue = zeroed(n * 8), *revenue_valid = zeroed((n + 7) / 8);
    PyObject *lines = zeroed(n * 8), *item_index = zeroed(n * 8);
    if (!dates || !revenue || !revenue_valid || !lines || !item_index) {
        Py_XDECREF(dates); Py_XDECREF(revenue); Py_XDECREF(revenue_valid);
        Py_XDECREF(lines); Py_XDECREF(item_index); Py_DECREF(times);
        return NULL;
    }
    int32_t *d = (int32_t *)PyBytes_AS_STRING(dates);
    double *rev = (double *)PyBytes_AS_STRING(revenue);
    uint8_t *rev_bits = (uint8_t *)PyBytes_AS_STRING(revenue_valid);
    int64_t *line = (int64_t *)PyBytes_AS_STRING(lines), *item = (int64_t *)PyBytes_AS_STRING(item_index);
    for (int64_t r = 0; r < n; r++) {
        const Row *row = &rows->rows[r];
        d[r] = row->date;
        rev[r] = row->revenue;
        if (row->has_revenue) rev_bits[r >> 3] |= (uint8_t)(1u << (r & 7));
        line[r] = row->line;
        item[r] = row->item_index;
    }
    return Py_BuildValue("(NNNNNN)", times, dates, revenue, revenue_valid, lines, item_index);
}

/* The working memory of the last call, kept for the next: a worker flattens chunk after chunk,
 * and fresh memory for each would be paid again in page faults. A call made while another
 * runs (the GIL is released) has its own. */
static Rows kept_rows;
static Items kept_items = {NULL, 0, 0, 1};
static Scratch kept_scratch;
static int kept_in_use;

/* flatten_lines(chunks, max_event_bytes) -> (taken, strings, (times, dates, revenue,
 * revenue_valid, line, item_index))
 *
 * `chunks`: per Arrow string chunk (data, offsets, length, offset): the lines. `taken` has a
 * byte per line (1: flattened here); the columns hold the taken lines' rows in line order:
 * `strings` a (validity, offsets, data) per string column, the others their values. */
static PyObject *flatten_lines(PyObject *self, PyObject *args) {
    PyObject *chunks;
    long long max_event_bytes;
    if (!PyArg_ParseTuple(args, "OL", &chunks, &max_event_bytes)) return NULL;
    PyObject *seq = PySequence_Fast(chunks, "chunks must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n_chunks = PySequence_Fast_GET_SIZE(seq), got = 0;
    Py_buffer *data = PyMem_Calloc((size_t)n_chunks + 1, sizeof(Py_buffer));
    Py_buffer *offs = PyMem_Calloc((size_t)n_chunks + 1, sizeof(Py_buffer));
    long long *lengths = PyMem_Calloc((size_t)n_chunks + 1, sizeof(long long));
    long long *starts = PyMem_Calloc((size_t)n_chunks + 1, sizeof(long long));
    int keep = !kept_in_use;  /* decided under the GIL */
    Scratch scratch = {NULL, 0, 0};
    Rows rows = {NULL, 0, 0};
    Items items = {NULL, 0, 0, 1};
    if (keep) {
        kept_in_use = 1;
        scratch = kept_scratch;
        rows = kept_rows;
        items = kept_items;
        scratch.used = 0;
        rows.n = 0;
        items.n = 0;
        items.ok = 1;
    }
    PyObject *taken = NULL, *result = NULL, *strings = NULL, *others = NULL;
    if (!data || !offs || !lengths || !starts) { PyErr_NoMemory(); goto done; }
    long long lines = 0, total_bytes = 0;
    for (; got < n_chunks; got++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, got), *d, *o;
        if (!PyArg_ParseTuple(item, "OOLL", &d, &o, &lengths[got], &starts[got])) goto done;
        if (PyObject_GetBuffer(d, &data[got], PyBUF_SIMPLE) < 0) goto done;
        if (PyObject_GetBuffer(o, &offs[got], PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&data[got]);
            goto done;
        }
        if (lengths[got] < 0 || starts[got] < 0 ||
            (starts[got] + lengths[got] + 1) * 4 > offs[got].len) {
            got++;
            PyErr_SetString(PyExc_ValueError, "offsets shorter than the chunk");
            goto done;
        }
        lines += lengths[got];
        total_bytes += data[got].len;
    }
    if (scratch.size < 2 * total_bytes + 64) {
        free(scratch.p);
        scratch.size = 2 * total_bytes + 64;
        scratch.p = malloc((size_t)scratch.size);
        if (!scratch.p) scratch.size = 0;
    }
    taken = zeroed(lines);
    if (!scratch.p || !taken) { if (!PyErr_Occurred()) PyErr_NoMemory(); goto done; }
    char *taken_flags = PyBytes_AS_STRING(taken);
    int64_t line_index = 0;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < n_chunks && !failed; k++) {
        const int32_t *o = (const int32_t *)offs[k].buf + starts[k];
        const char *base = data[k].buf;
        for (long long i = 0; i < lengths[k] && !failed; i++, line_index++) {
            int32_t a = o[i], z = o[i + 1];
            if (a < 0 || z < a || z > data[k].len) continue;
            int64_t mark = scratch.used;
            if (scratch.used + 2 * (int64_t)(z - a) > scratch.size) continue;
            int got_rows =
                flatten_line(base + a, z - a, line_index, max_event_bytes, &scratch, &items, &rows);
            if (got_rows > 0) taken_flags[line_index] = 1;
            else scratch.used = mark;
            failed = got_rows < 0;
        }
    }
    Py_END_ALLOW_THREADS
    if (failed) { PyErr_NoMemory(); goto done; }
    strings = string_columns(&rows);
    if (!strings) goto done;
    others = other_columns(&rows);
    if (!others) goto done;
    result = Py_BuildValue("(OOO)", taken, strings, others);
done:
    for (Py_ssize_t k = 0; k < got; k++) {
        PyBuffer_Release(&data[k]);
        PyBuffer_Release(&offs[k]);
    }
    Py_XDECREF(taken);
    Py_XDECREF(strings);
    Py_XDECREF(others);
    if (keep) {
        kept_scratch = scratch;
        kept_rows = rows;
        kept_items = items;
        kept_in_use = 0;
    } else {
        free(scratch.p);
        free(rows.rows);
        free(items.items);
    }
    PyMem_Free(data); PyMem_Free(offs); PyMem_Free(lengths); PyMem_Free(starts);
    Py_DECREF(seq);
    return result;
}

static PyMethodDef METHODS[] = {
    {"flatten_lines", flatten_lines, METH_VARARGS,
     "Flatten the lines that are plain single Segment messages or Blotout payloads."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "_fast_flatten",
    "events_incremental's compiled fast path for plain Segment messages and Blotout payloads.",
    -1, METHODS,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fast_flatten(void) {
    for (int ch = 0; ch < 0x20; ch++) STOP[ch] = 1;
    STOP['"'] = STOP['\\'] = 1;
    return PyModule_Create(&MODULE);
}
