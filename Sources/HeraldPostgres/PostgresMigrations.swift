/// The schema, as named migrations applied in order and recorded in `herald_migration`. Append-only:
/// never edit one that has shipped; a change is a new migration.
enum PostgresMigrations {
    struct Migration {
        var name: String
        var statements: [String]
    }

    static let all: [Migration] = [
        Migration(
            name: "2026-12-02 registrations",
            statements: [
                // Nodes compare bytewise (COLLATE "C"), as listing pages past a node expects.
                """
                CREATE TABLE registration (
                    node TEXT COLLATE "C" PRIMARY KEY,
                    secret TEXT,
                    app TEXT NOT NULL,
                    service TEXT NOT NULL CHECK (service IN ('apns', 'fcm', 'webpush')),
                    dialect TEXT NOT NULL,
                    token TEXT NOT NULL,
                    voip_token TEXT,
                    webpush_p256dh TEXT,
                    webpush_auth TEXT,
                    environment TEXT CHECK (environment IN ('sandbox', 'production')),
                    account_domain TEXT,
                    account_key TEXT,
                    push_account TEXT,
                    channel TEXT,
                    device_key TEXT NOT NULL UNIQUE,
                    created_at TIMESTAMPTZ NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL,
                    last_push_at TIMESTAMPTZ,
                    last_failure TEXT
                )
                """,
                "CREATE INDEX registration_account_key ON registration (account_key)",
                // Counts per registering server and in all, kept by triggers, so that checking a limit is
                // a point read and the rows a registration locks to check it.
                "CREATE TABLE registration_count (account_domain TEXT PRIMARY KEY, registrations BIGINT NOT NULL)",
                "CREATE TABLE registration_total (id INT PRIMARY KEY CHECK (id = 1), registrations BIGINT NOT NULL)",
                "INSERT INTO registration_total (id, registrations) VALUES (1, 0)",
                """
                CREATE FUNCTION registration_counted() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP IN ('DELETE', 'UPDATE') THEN
                        UPDATE registration_count SET registrations = registrations - 1
                            WHERE account_domain = coalesce(OLD.account_domain, '');
                    END IF;
                    IF TG_OP IN ('INSERT', 'UPDATE') THEN
                        INSERT INTO registration_count (account_domain, registrations)
                            VALUES (coalesce(NEW.account_domain, ''), 1)
                            ON CONFLICT (account_domain) DO UPDATE SET registrations = registration_count.registrations + 1;
                    END IF;
                    IF TG_OP = 'INSERT' THEN
                        UPDATE registration_total SET registrations = registrations + 1 WHERE id = 1;
                    ELSIF TG_OP = 'DELETE' THEN
                        UPDATE registration_total SET registrations = registrations - 1 WHERE id = 1;
                        DELETE FROM pending_push WHERE node = OLD.node;
                    END IF;
                    RETURN NULL;
                END $$
                """,
                "CREATE TRIGGER registration_counted_insert AFTER INSERT OR DELETE ON registration FOR EACH ROW EXECUTE FUNCTION registration_counted()",
                """
                CREATE TRIGGER registration_counted_update AFTER UPDATE OF account_domain ON registration FOR EACH ROW
                    WHEN (coalesce(OLD.account_domain, '') IS DISTINCT FROM coalesce(NEW.account_domain, ''))
                    EXECUTE FUNCTION registration_counted()
                """,
                // Pushes waiting for their next attempt: one row per node, held by one instance at a time
                // (`claimed_by` until `claimed_until`).
                """
                CREATE TABLE pending_push (
                    node TEXT COLLATE "C" PRIMARY KEY,
                    publish TEXT NOT NULL,
                    push_class TEXT NOT NULL CHECK (push_class IN ('background', 'alert', 'voip')),
                    attempt INT NOT NULL,
                    not_before TIMESTAMPTZ NOT NULL,
                    deadline TIMESTAMPTZ NOT NULL,
                    claimed_by TEXT,
                    claimed_until TIMESTAMPTZ
                )
                """,
                "CREATE INDEX pending_push_due ON pending_push (not_before)",
            ]
        ),
        // Every instance caches registrations for delivery and drops the nodes named here. Activity
        // (last_push_at, last_failure) is left out: it changes with every push and is not delivered with.
        Migration(
            name: "2026-12-02 registration change notifications",
            statements: [
                """
                CREATE FUNCTION registration_changed() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_notify('herald_registration', CASE WHEN TG_OP = 'DELETE' THEN OLD.node ELSE NEW.node END);
                    RETURN NULL;
                END $$
                """,
                """
                CREATE TRIGGER registration_changed AFTER INSERT OR DELETE OR UPDATE OF
                    secret, app, service, dialect, token, voip_token, webpush_p256dh, webpush_auth, environment,
                    account_domain, account_key, push_account, channel, device_key, created_at, updated_at
                    ON registration FOR EACH ROW EXECUTE FUNCTION registration_changed()
                """,
            ]
        ),
    ]
}
