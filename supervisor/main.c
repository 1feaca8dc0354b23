/* herd: starts, watches, restarts and stops the herd of herd.conf. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "config.h"
#include "exit_codes.h"
#include "herd.h"
#include "links.h"

static const char usage_text[] =
    "usage: herd [-c FILE] COMMAND [ARGS]\n"
    "\n"
    "Runs the herd described by herd.conf (default ./herd.conf, or\n"
    "$HERD_CONF): one herd-server per server entry, restarted when it dies.\n"
    "\n"
    "commands:\n"
    "  start [--foreground] [--only NAME,...]\n"
    "                      start the herd; returns once every server is up\n"
    "                      (the supervisor stays in the background)\n"
    "  start NAME...       start servers of the running herd\n"
    "  stop                stop the whole herd and its supervisor\n"
    "  stop NAME...        stop servers and keep them down\n"
    "  restart NAME...     stop, then start servers\n"
    "  kill NAME [SIGNAL]  send a signal (default KILL), as a crash would;\n"
    "                      the server is restarted by the usual policy\n"
    "  status [--json]     state, pid, address, uptime, restarts, last exit;\n"
    "                      then each link: up (round trip), down, cut\n"
    "  cut A B | cut A     cut the link A - B, or every link of A: closed,\n"
    "                      neither dialled nor accepted (across restarts)\n"
    "                      until healed\n"
    "  heal [A [B]]        heal the link A - B, every link of A, or every\n"
    "                      link of the herd\n"
    "  help [COMMAND]      this text, or a command's\n"
    "\n"
    "Exit status: 0 done, 1 failed, 64 bad usage, 78 bad herd.conf.\n";

static const struct {
    const char *name;
    const char *text;
} command_help[] = {
    {"start",
     "usage: herd start [--foreground] [--only NAME,...]\n"
     "       herd start NAME...\n"
     "\n"
     "Without names: reads herd.conf, spawns one herd-server per server,\n"
     "waits until each says it is listening, prints the status table and\n"
     "returns, leaving the supervisor running. --foreground keeps it\n"
     "attached (logs on stderr; Ctrl-C stops the herd). --only runs just\n"
     "the named servers (one supervisor per machine of a spread herd).\n"
     "With names: starts those servers of the running herd.\n"},
    {"stop", "usage: herd stop [NAME...]\n"
             "\n"
             "Without names: SIGTERM to every server, SIGKILL after the grace\n"
             "period, then the supervisor exits. With names: stops those\n"
             "servers and keeps them down until 'herd start NAME'.\n"},
    {"restart", "usage: herd restart NAME...\n"
                "\n"
                "Stops the servers, then starts them again.\n"},
    {"kill", "usage: herd kill NAME [SIGNAL]\n"
             "\n"
             "Sends SIGNAL (a name like KILL, TERM, STOP, CONT, or a number;\n"
             "default KILL) to the server. The supervisor treats the exit like\n"
             "a crash and restarts it by its policy.\n"},
    {"status", "usage: herd status [--json]\n"
               "\n"
               "Per server: name, state (starting, up, stopping, down,\n"
               "failed), pid, address, uptime, restart count, last exit.\n"
               "Then per link of herd.conf, as its two servers see it on\n"
               "their control sockets: up (with the heartbeat's round\n"
               "trip), down, cut, or unknown when neither answers within\n"
               "a second. --json adds \"links\" and each server's records\n"
               "and digest (equal digests: equal records).\n"},
    {"cut", "usage: herd cut A B\n"
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
            "catch up when healed.\n"},
    {"heal", "usage: herd heal A B\n"
             "       herd heal A\n"
             "       herd heal\n"
             "\n"
             "Heals the link A - B, every link of A, or every link of every\n"
             "server: the link is dialled again at once and the two ends\n"
             "catch up. Every server concerned must be running: if one\n"
             "does not answer, nothing is changed.\n"},
};

static int print_help(const char *cmd)
{
    for (size_t i = 0; i < sizeof command_help / sizeof command_help[0]; i++)
        if (cmd != NULL && strcmp(cmd, command_help[i].name) == 0) {
            fputs(command_help[i].text, stdout);
            return 0;
        }
    if (cmd != NULL)
        return client_usage_error("no command '%s'", cmd);
    fputs(usage_text, stdout);
    return 0;
}

static int dispatch(struct herd *h, const char *cmd, int argc, char **argv,
                    const char *argv0)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return print_help(cmd);
    if (strcmp(cmd, "start") == 0) {
        if (argc > 0 && argv[0][0] != '-')
            return client_names_request(h, "start", argc, argv);
        return client_start_herd(h, argc, argv, argv0);
    }
    if (strcmp(cmd, "stop") == 0) {
        if (argc == 0)
            return client_request(h, "shutdown\n");
        return client_names_request(h, "stop", argc, argv);
    }
    if (strcmp(cmd, "restart") == 0) {
        if (argc == 0)
            return client_usage_error("restart needs server names");
        return client_names_request(h, "restart", argc, argv);
    }
    if (strcmp(cmd, "status") == 0) {
        if (argc == 1 && strcmp(argv[0], "--json") == 0)
            return client_status(h, 1);
        if (argc != 0)
            return client_usage_error("status takes only --json");
        return client_status(h, 0);
    }
    if (strcmp(cmd, "cut") == 0 || strcmp(cmd, "heal") == 0)
        return links_cut(h, cmd[0] == 'c', argc, argv);
    if (strcmp(cmd, "kill") == 0) {
        if (argc < 1 || argc > 2)
            return client_usage_error("kill takes NAME [SIGNAL]");
        if (!config_valid_name(argv[0], strlen(argv[0])))
            return client_usage_error("kill: '%s' is not a server name",
                                      argv[0]);
        int sig = argc == 2 ? client_parse_signal(argv[1]) : SIGKILL;
        if (sig < 0)
            return client_usage_error("kill: unknown signal '%s'", argv[1]);
        char line[128];
        snprintf(line, sizeof line, "kill %s %d\n", argv[0], sig);
        return client_request(h, line);
    }
    return client_usage_error("unknown command '%s'", cmd);
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
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return print_help(NULL);
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
            i + 1 < argc)
            conf = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            conf = argv[i] + 9;
        else
            return client_usage_error("unknown option '%s'", argv[i]);
    }
    if (i >= argc)
        return client_usage_error("missing command");
    const char *cmd = argv[i++];
    if (strcmp(cmd, "help") == 0)
        return print_help(i < argc ? argv[i] : NULL);
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
    static struct herd h;
    int known = 0;
    const char *cmds[] = {"start", "stop", "restart", "status",
                          "kill",  "cut",  "heal"};
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
        known |= strcmp(cmd, cmds[k]) == 0;
    if (!known)
        return client_usage_error("unknown command '%s'", cmd);
    for (int j = 0; j < nrest; j++)
        if (strcmp(rest[j], "--help") == 0 || strcmp(rest[j], "-h") == 0)
            return print_help(cmd);
    int rc = herd_load(&h, conf);
    if (rc == 0)
        rc = dispatch(&h, cmd, nrest, rest, argv[0]);
    config_free(&h.cfg);
    return rc;
}
