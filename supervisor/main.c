/* herd: the supervisor's command line.
 *
 *   herd [-c FILE] COMMAND [ARGS]
 *
 * One table of commands makes the parser (which command, how many
 * arguments), the help (herd --help, herd help COMMAND, herd COMMAND
 * --help) and the dispatch. The commands themselves are in client.c and
 * links.c; the supervisor they start is in daemon.c.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "client.h"
#include "config.h"
#include "herd.h"
#include "http.h"
#include "links.h"
#include "top.h"

#define ARGS_ANY INT_MAX
/* herd --help: where a command's description starts (after two spaces). */
#define SYNOPSIS_WIDTH 20

enum command_flags {
    /* Runs on its own arguments as they are, before herd.conf is read and
     * before -c or --help are looked for among them. */
    COMMAND_BEFORE_CONFIG = 1
};

struct command {
    const char *name;
    /* herd --help: up to two forms, each a synopsis and what it does (one
     * or more lines). */
    struct {
        const char *synopsis;
        const char *what;
    } lines[2];
    const char *help; /* herd help NAME; NULL: none */
    int min_args;
    int max_args; /* ARGS_ANY: no limit */
    /* Out of range: the usage error "NAME BAD_ARGS". */
    const char *bad_args;
    unsigned flags; /* enum command_flags */
    /* h is NULL before herd.conf is read (COMMAND_BEFORE_CONFIG). Returns
     * the exit code. */
    int (*run)(struct herd *h, int argc, char **argv);
};

static const char start_help[] =
    "usage: herd start [--foreground] [--only NAME,...]\n"
    "       herd start NAME...\n"
    "\n"
    "Without names: reads herd.conf, spawns one herd-server per server,\n"
    "waits until each says it is listening, prints the status table and\n"
    "returns, leaving the supervisor running. --foreground keeps it\n"
    "attached (logs on stderr; Ctrl-C stops the herd). --only runs just\n"
    "the named servers (one supervisor per machine of a spread herd).\n"
    "With names: starts those servers of the running herd.\n";

static const char stop_help[] =
    "usage: herd stop [NAME...]\n"
    "\n"
    "Without names: SIGTERM to every server, SIGKILL after the grace\n"
    "period, then the supervisor exits. With names: stops those\n"
    "servers and keeps them down until 'herd start NAME'.\n";

static const char restart_help[] =
    "usage: herd restart NAME...\n"
    "       herd restart --rolling [--timeout-ms MS] [NAME...]\n"
    "\n"
    "Stops the servers, then starts them again.\n"
    "\n"
    "--rolling restarts them one at a time (every server the supervisor\n"
    "runs, in herd.conf order, when no names are given; a new server_bin,\n"
    "say): each is restarted, then waited for until it is linked to every\n"
    "neighbour that is up and holds what they hold (its digest equals\n"
    "theirs, or both ends of the link report their catch-up done:\n"
    "\"synced\" in herd status --json), before the next goes down. A server\n"
    "starting or about to restart is waited for first, so that at most\n"
    "one server is down at any moment; one stopped or failed before the\n"
    "roll stays down, one that fails or is stopped during it stops the\n"
    "roll. Each server has --timeout-ms (default 60000) for all of it. One\n"
    "line per step; the first failure stops the roll, says where, and\n"
    "exits 1.\n";

static const char reload_help[] =
    "usage: herd reload [--dry-run]\n"
    "\n"
    "The running supervisor re-reads herd.conf (SIGHUP to it does the\n"
    "same) and checks it whole, as herd check does: a file with an error\n"
    "changes nothing, and herd reload prints why and exits 78. Otherwise\n"
    "it applies the difference: new servers are started (they catch up\n"
    "from their neighbours), removed ones stopped (their data directory\n"
    "is left), and every running server whose neighbours, addresses or\n"
    "settings changed is told to re-read herd.conf: it opens new links,\n"
    "closes removed ones and takes new limits and timeouts without a\n"
    "restart. The supervisor's restart policy, stop_grace_ms and\n"
    "ready_timeout_ms change at once; server_bin, log_dir and data_dir\n"
    "from each server's next start. A server whose own address changed\n"
    "needs herd restart NAME, and is said so; http and secret_file need\n"
    "herd stop and herd start; run_dir cannot change (the reload is\n"
    "refused). Servers the change does not concern keep their process\n"
    "and their clients. Prints what was done, server by server; exit 1\n"
    "if a step failed. --dry-run prints what would be done, and does\n"
    "nothing.\n";

static const char kill_help[] =
    "usage: herd kill NAME [SIGNAL]\n"
    "\n"
    "Sends SIGNAL (a name like KILL, TERM, STOP, CONT, or a number;\n"
    "default KILL) to the server. The supervisor treats the exit like\n"
    "a crash and restarts it by its policy.\n";

static const char status_help[] =
    "usage: herd status [--json]\n"
    "\n"
    "Per server of herd.conf: name, state (starting, up, stopping,\n"
    "down, failed; for a server this supervisor does not run: up\n"
    "when its control socket answers, else unknown), pid, address,\n"
    "uptime, records held, SYNC (yes: its digest equals every\n"
    "answering neighbour's; NO; -: it does not answer), restarts,\n"
    "last exit. Then per link of herd.conf, as its two servers see\n"
    "it: up for how long with the heartbeat's round trip, down for\n"
    "how long and why, cut, or unknown when neither end answers\n"
    "within a second. --json prints all of it as one object (each\n"
    "server's own status under \"stats\"; each link's since_ms, why,\n"
    "rtt_us).\n";

static const char cut_help[] =
    "usage: herd cut A B\n"
    "       herd cut A\n"
    "\n"
    "Cuts the link A - B of herd.conf (tells A and B), or every\n"
    "link of A (tells A and each of its neighbours), through each\n"
    "server's control socket (RUN_DIR/NAME.sock). A cut link is\n"
    "closed and neither dialled nor accepted until 'herd heal';\n"
    "each server keeps its cuts in its data directory, so they\n"
    "outlive a restart. Every server concerned must be running:\n"
    "if one does not answer, nothing is changed. Updates keep\n"
    "flowing around a cut where the graph allows: two sides with\n"
    "no link between them each go on alone (a split brain), and\n"
    "catch up when healed.\n";

static const char heal_help[] =
    "usage: herd heal A B\n"
    "       herd heal A\n"
    "       herd heal\n"
    "\n"
    "Heals the link A - B, every link of A, or every link of every\n"
    "server: the link is dialled again at once and the two ends\n"
    "catch up. Every server concerned must be running: if one\n"
    "does not answer, nothing is changed.\n";

static const char top_help[] =
    "usage: herd top [--count N] [--interval MS]\n"
    "\n"
    "The herd's rates, refreshed every second (--interval) until\n"
    "Ctrl-C, or N times (--count): per server its state, records,\n"
    "sync, updates in and out per second, WHATSAT per second and\n"
    "places misses per second; per link its state and the records\n"
    "crossing it each way per second. Read from each server's\n"
    "control socket, like herd status. --interval takes 100 to\n"
    "3600000 ms. Rates need two samples: the first frame comes one\n"
    "interval after the start. On a terminal each frame replaces the\n"
    "last; otherwise frames follow one another, a blank line between,\n"
    "each under a header with the time. Ctrl-C ends it (exit 0).\n";

static const char web_help[] =
    "usage: herd web\n"
    "\n"
    "Prints the address of the running supervisor's web page (herd.conf's\n"
    "http) with the token that lets the page stop, start, kill, cut\n"
    "and heal (RUN_DIR/http-token: only who can read the run directory\n"
    "has it). Without the token the page only shows the herd.\n";

static const char check_help[] =
    "usage: herd check [-c FILE]\n"
    "\n"
    "Validates herd.conf without starting anything: its syntax, and\n"
    "what the servers would refuse at start (an unknown places provider,\n"
    "half a set of TLS files, a link timeout no longer than the heartbeat,\n"
    "an http address a server uses, a run_dir too long for a control\n"
    "socket). Each problem is a line 'herd: FILE:LINE: what' on stderr.\n"
    "Files the configuration names that are missing on this machine, and\n"
    "a graph in pieces, are warnings. Exit 0: valid (with a line on\n"
    "stdout); 78: not.\n";

static int help_command(struct herd *h, int argc, char **argv);

static const struct command commands[] = {
    {
        .name = "start",
        .lines =
            {
                {"start [--foreground] [--only NAME,...]",
                 "start the herd; returns once every server is up\n"
                 "(the supervisor stays in the background)"},
                {"start NAME...", "start servers of the running herd"},
            },
        .help = start_help,
        .min_args = 0,
        .max_args = ARGS_ANY,
        .run = client_start,
    },
    {
        .name = "stop",
        .lines =
            {
                {"stop", "stop the whole herd and its supervisor"},
                {"stop NAME...", "stop servers and keep them down"},
            },
        .help = stop_help,
        .min_args = 0,
        .max_args = ARGS_ANY,
        .run = client_stop,
    },
    {
        .name = "restart",
        .lines =
            {
                {"restart NAME...", "stop, then start servers"},
                {"restart --rolling [NAME...]",
                 "one at a time, each linked and in sync before\n"
                 "the next goes down"},
            },
        .help = restart_help,
        .min_args = 1,
        .max_args = ARGS_ANY,
        .bad_args = "needs server names",
        .run = client_restart,
    },
    {
        .name = "reload",
        .lines =
            {
                {"reload [--dry-run]",
                 "apply a changed herd.conf to the running herd:\n"
                 "add and remove servers and links, change settings"},
            },
        .help = reload_help,
        .min_args = 0,
        .max_args = 1,
        .bad_args = "takes only --dry-run",
        .run = client_reload,
    },
    {
        .name = "kill",
        .lines =
            {
                {"kill NAME [SIGNAL]",
                 "send a signal (default KILL), as a crash would;\n"
                 "the server is restarted by the usual policy"},
            },
        .help = kill_help,
        .min_args = 1,
        .max_args = 2,
        .bad_args = "takes NAME [SIGNAL]",
        .run = client_kill,
    },
    {
        .name = "status",
        .lines =
            {
                {"status [--json]",
                 "state, pid, address, uptime, records, sync,\n"
                 "restarts, last exit; then each link: up (round\n"
                 "trip), down (how long, why), cut"},
            },
        .help = status_help,
        .min_args = 0,
        .max_args = 1,
        .bad_args = "takes only --json",
        .run = client_status,
    },
    {
        .name = "cut",
        .lines =
            {
                {"cut A B | cut A",
                 "cut the link A - B, or every link of A: closed,\n"
                 "neither dialled nor accepted (across restarts)\n"
                 "until healed"},
            },
        .help = cut_help,
        .min_args = 1,
        .max_args = 2,
        .bad_args = "takes NAME [NAME]",
        .run = links_cut,
    },
    {
        .name = "heal",
        .lines =
            {
                {"heal [A [B]]",
                 "heal the link A - B, every link of A, or every\n"
                 "link of the herd"},
            },
        .help = heal_help,
        .min_args = 0,
        .max_args = 2,
        .bad_args = "takes [NAME [NAME]]",
        .run = links_heal,
    },
    {
        .name = "top",
        .lines =
            {
                {"top [--count N] [--interval MS]",
                 "rates per server and link, refreshed every second"},
            },
        .help = top_help,
        .min_args = 0,
        .max_args = 4,
        .bad_args = "takes [--count N] [--interval MS]",
        .run = top_run,
    },
    {
        .name = "web",
        .lines =
            {
                {"web", "the web page's address, with its token"},
            },
        .help = web_help,
        .min_args = 0,
        .max_args = 0,
        .bad_args = "takes no arguments",
        .run = http_print_url,
    },
    {
        .name = "check",
        .lines =
            {
                {"check", "validate herd.conf (exit 0, or 78 naming the\n"
                          "line), starting nothing"},
            },
        .help = check_help,
        .min_args = 0,
        .max_args = 0,
        .bad_args = "takes no arguments (but -c FILE)",
        .run = check_run,
    },
    {
        .name = "help",
        .lines =
            {
                {"help [COMMAND]", "this text, or a command's"},
            },
        .min_args = 0,
        .max_args = ARGS_ANY,
        .flags = COMMAND_BEFORE_CONFIG,
        .run = help_command,
    },
};

static const char usage_head[] =
    "usage: herd [-c FILE] COMMAND [ARGS]\n"
    "\n"
    "Runs the herd described by herd.conf (default ./herd.conf, or\n"
    "$HERD_CONF): one herd-server per server entry, restarted when it dies.\n"
    "\n"
    "commands:\n";

static const char usage_tail[] =
    "\n"
    "Exit status: 0 done, 1 failed, 64 bad usage, 78 bad herd.conf.\n";

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0)
            return &commands[i];
    return NULL;
}

static void print_usage(void)
{
    fputs(usage_head, stdout);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        for (size_t k = 0; k < 2 && commands[i].lines[k].synopsis; k++) {
            const char *syn = commands[i].lines[k].synopsis;
            const char *p = commands[i].lines[k].what;
            if (strlen(syn) < SYNOPSIS_WIDTH)
                printf("  %-*s", SYNOPSIS_WIDTH, syn);
            else
                printf("  %s\n%*s", syn, SYNOPSIS_WIDTH + 2, "");
            for (const char *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
                printf("%.*s\n%*s", (int)(nl - p), p, SYNOPSIS_WIDTH + 2, "");
            printf("%s\n", p);
        }
    fputs(usage_tail, stdout);
}

/* herd --help (name NULL), or herd help NAME. */
static int print_help(const char *name)
{
    if (name == NULL) {
        print_usage();
        return 0;
    }
    const struct command *c = find_command(name);
    if (c == NULL || c->help == NULL)
        return herd_usage_error("no command '%s'", name);
    fputs(c->help, stdout);
    return 0;
}

static int help_command(struct herd *h, int argc, char **argv)
{
    (void)h;
    return print_help(argc > 0 ? argv[0] : NULL);
}

static int run_command(const struct command *c, struct herd *h, int argc,
                       char **argv)
{
    if (argc < c->min_args || argc > c->max_args)
        return herd_usage_error("%s %s", c->name, c->bad_args);
    return c->run(h, argc, argv);
}

static int is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int main(int argc, char **argv)
{
    /* A supervisor that goes away mid-request is an error to report, not
     * a signal to die of. */
    signal(SIGPIPE, SIG_IGN);
    const char *conf = getenv("HERD_CONF");
    if (conf == NULL || conf[0] == '\0')
        conf = "herd.conf";
    int i = 1;
    /* Global options come before the command: -c FILE, --help. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (is_help(argv[i]))
            return print_help(NULL);
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
            i + 1 < argc)
            conf = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            conf = argv[i] + 9;
        else
            return herd_usage_error("unknown option '%s'", argv[i]);
    }
    if (i >= argc)
        return herd_usage_error("missing command");
    const struct command *c = find_command(argv[i]);
    if (c == NULL)
        return herd_usage_error("unknown command '%s'", argv[i]);
    i++;
    if (c->flags & COMMAND_BEFORE_CONFIG)
        return run_command(c, NULL, argc - i, argv + i);
    /* -c may also follow the command. */
    char **rest = argv + i;
    int nrest = 0;
    for (int j = i; j < argc; j++) {
        if ((strcmp(argv[j], "-c") == 0 || strcmp(argv[j], "--config") == 0) &&
            j + 1 < argc) {
            conf = argv[++j];
            continue;
        }
        rest[nrest++] = argv[j];
    }
    for (int j = 0; j < nrest; j++)
        if (is_help(rest[j]))
            return print_help(c->name);
    static struct herd h;
    h.argv0 = argv[0];
    int rc = herd_load(&h, conf);
    if (rc == 0)
        rc = run_command(c, &h, nrest, rest);
    config_free(&h.cfg);
    return rc;
}
