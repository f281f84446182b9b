/// Versioned schema changes, applied in order at start-up inside one transaction each.
/// Never edit a released migration: add a new one.
enum Migrations {
    static let all: [(version: Int, name: String, sql: String)] = [
        (
            1, "accounts",
            """
            CREATE TABLE companies (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                extid TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                deleted_at INTEGER
            );
            CREATE TABLE organisation_units (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL CHECK (kind IN ('ousubsidiary', 'oulocation', 'department')),
                company_id INTEGER NOT NULL REFERENCES companies(id),
                name TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            CREATE INDEX organisation_units_by_company ON organisation_units(company_id, kind, id);
            CREATE TABLE users (
                id INTEGER PRIMARY KEY,
                company_id INTEGER REFERENCES companies(id),
                is_tan_user INTEGER NOT NULL DEFAULT 0,
                name TEXT NOT NULL,
                email TEXT,
                password_hash TEXT,
                title TEXT NOT NULL DEFAULT '',
                gender TEXT NOT NULL DEFAULT 'notset',
                mobile TEXT,
                languages TEXT NOT NULL DEFAULT '',
                extid TEXT,
                description TEXT,
                ousubsidiary_id INTEGER REFERENCES organisation_units(id) ON DELETE SET NULL,
                oulocation_id INTEGER REFERENCES organisation_units(id) ON DELETE SET NULL,
                department_id INTEGER REFERENCES organisation_units(id) ON DELETE SET NULL,
                expires_at INTEGER,
                is_unlocked INTEGER NOT NULL DEFAULT 1,
                tan_data_agreed INTEGER NOT NULL DEFAULT 0,
                tan_descriptions_agreed INTEGER NOT NULL DEFAULT 0,
                -- name and e-mail lower-cased by the application (SQLite's lower() knows ASCII only).
                search_key TEXT NOT NULL DEFAULT '',
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                deleted_at INTEGER
            );
            -- One live account per e-mail; TAN users (patients) may share addresses across calls.
            CREATE UNIQUE INDEX users_account_email ON users(email) WHERE deleted_at IS NULL AND is_tan_user = 0;
            CREATE INDEX users_by_company ON users(company_id, id);
            CREATE TABLE user_roles (
                user_id INTEGER NOT NULL REFERENCES users(id),
                role_id INTEGER NOT NULL CHECK (role_id BETWEEN 1 AND 5),
                PRIMARY KEY (user_id, role_id)
            ) WITHOUT ROWID;
            CREATE INDEX user_roles_by_role ON user_roles(role_id, user_id);
            CREATE TABLE notification_options (
                user_id INTEGER NOT NULL REFERENCES users(id),
                notification_id INTEGER NOT NULL,
                enabled INTEGER NOT NULL,
                value TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (user_id, notification_id)
            ) WITHOUT ROWID;
            CREATE TABLE machine_clients (
                id INTEGER PRIMARY KEY,
                company_id INTEGER NOT NULL REFERENCES companies(id),
                client_id TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                revoked_at INTEGER
            );
            CREATE TABLE access_tokens (
                token_hash BLOB PRIMARY KEY,
                user_id INTEGER REFERENCES users(id),
                client_id INTEGER REFERENCES machine_clients(id),
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                revoked_at INTEGER,
                CHECK ((user_id IS NULL) <> (client_id IS NULL))
            ) WITHOUT ROWID;
            CREATE INDEX access_tokens_by_user ON access_tokens(user_id) WHERE user_id IS NOT NULL;
            CREATE INDEX access_tokens_by_client ON access_tokens(client_id) WHERE client_id IS NOT NULL;
            CREATE INDEX access_tokens_by_expiry ON access_tokens(expires_at);
            """
        ),
        (
            2, "calls",
            """
            CREATE TABLE calls (
                id INTEGER PRIMARY KEY,
                company_id INTEGER NOT NULL REFERENCES companies(id),
                created_by INTEGER REFERENCES users(id),
                begin INTEGER NOT NULL,
                duration INTEGER NOT NULL,
                room TEXT NOT NULL UNIQUE,
                status INTEGER NOT NULL DEFAULT 0,
                extid TEXT,
                description TEXT,
                extendable INTEGER,
                started_at INTEGER,
                ended_at INTEGER,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                deleted_at INTEGER
            );
            CREATE INDEX calls_by_company ON calls(company_id, id) WHERE deleted_at IS NULL;
            CREATE INDEX calls_by_extid ON calls(company_id, extid) WHERE extid IS NOT NULL;
            CREATE TABLE call_participants (
                call_id INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
                user_id INTEGER NOT NULL REFERENCES users(id),
                role TEXT NOT NULL CHECK (role IN ('caller', 'callee', 'tanuser')),
                position INTEGER NOT NULL,
                tan TEXT,
                -- SHA-256 of the TAN: entry looks TANs up by hash, so timing reveals nothing about others.
                tan_hash BLOB UNIQUE,
                tan_valid_until INTEGER,
                PRIMARY KEY (call_id, user_id)
            ) WITHOUT ROWID;
            CREATE INDEX call_participants_by_user ON call_participants(user_id, call_id);
            CREATE TABLE call_logs (
                id INTEGER PRIMARY KEY,
                call_id INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
                company_id INTEGER NOT NULL,
                user_id INTEGER NOT NULL,
                tan TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                last_seen_at INTEGER NOT NULL,
                end_at INTEGER,
                deleted_at INTEGER
            );
            CREATE INDEX call_logs_by_company ON call_logs(company_id, id);
            CREATE INDEX call_logs_by_call ON call_logs(call_id, id);
            CREATE INDEX call_logs_open ON call_logs(last_seen_at) WHERE end_at IS NULL;
            CREATE TABLE one_time_passwords (
                token_hash BLOB PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users(id),
                call_id INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
                client_id INTEGER REFERENCES machine_clients(id),
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                used_at INTEGER
            ) WITHOUT ROWID;
            CREATE INDEX one_time_passwords_by_expiry ON one_time_passwords(expires_at);
            -- Durable outbox: written in the transaction that changes the call, delivered later.
            CREATE TABLE outbox_events (
                id INTEGER PRIMARY KEY,
                kind INTEGER NOT NULL,
                call_id INTEGER NOT NULL,
                company_id INTEGER NOT NULL,
                payload TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                delivered_at INTEGER
            );
            CREATE INDEX outbox_events_pending ON outbox_events(id) WHERE delivered_at IS NULL;
            """
        ),
        (
            3, "video sessions",
            """
            -- A page's entry into a call. Only the SHA-256 of the token is kept.
            CREATE TABLE video_sessions (
                id INTEGER PRIMARY KEY,
                token_hash BLOB NOT NULL UNIQUE,
                call_id INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
                user_id INTEGER NOT NULL REFERENCES users(id),
                tan TEXT,
                waiting_area INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL
            );
            CREATE INDEX video_sessions_by_expiry ON video_sessions(expires_at);
            """
        ),
        (
            4, "notifications",
            """
            -- One message to one recipient, composed when its outbox event was expanded and kept
            -- as it is (or will be) sent. status: pending, sent, failed.
            CREATE TABLE notifications (
                id INTEGER PRIMARY KEY,
                event_id INTEGER REFERENCES outbox_events(id) ON DELETE SET NULL,
                call_id INTEGER NOT NULL,
                company_id INTEGER NOT NULL,
                kind INTEGER NOT NULL,
                channel TEXT NOT NULL,
                audience TEXT NOT NULL,
                recipient TEXT NOT NULL,
                recipient_user_id INTEGER,
                subject TEXT NOT NULL,
                body_text TEXT NOT NULL,
                body_html TEXT,
                calendar TEXT,
                calendar_method TEXT,
                status TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER NOT NULL,
                last_error TEXT,
                created_at INTEGER NOT NULL,
                sent_at INTEGER
            );
            CREATE INDEX notifications_due ON notifications(next_attempt_at, id) WHERE status = 'pending';
            CREATE INDEX notifications_by_company ON notifications(company_id, id);
            CREATE INDEX notifications_by_call ON notifications(call_id);
            """
        ),
        (
            5, "appointments",
            """
            -- A reserved time slot is a call with the doctor whose slot it is and the company's
            -- lead times (minutes) as they were at the reservation.
            ALTER TABLE calls ADD COLUMN appointment_user_id INTEGER REFERENCES users(id);
            ALTER TABLE calls ADD COLUMN lead_time_create INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE calls ADD COLUMN lead_time_cancel INTEGER NOT NULL DEFAULT 0;
            -- The last line of defence against a double booking; overlaps are refused earlier.
            CREATE UNIQUE INDEX calls_one_per_slot ON calls(appointment_user_id, begin)
                WHERE appointment_user_id IS NOT NULL AND deleted_at IS NULL AND status != 2;
            CREATE TABLE appointment_settings (
                company_id INTEGER PRIMARY KEY REFERENCES companies(id),
                time_zone TEXT NOT NULL,
                lead_time_create INTEGER NOT NULL,
                lead_time_cancel INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            -- Consultation hours: weekday (1-7) or date (YYYY-MM-DD), times as minutes after midnight.
            CREATE TABLE availabilities (
                id INTEGER PRIMARY KEY,
                company_id INTEGER NOT NULL REFERENCES companies(id),
                user_id INTEGER NOT NULL REFERENCES users(id),
                kind TEXT NOT NULL CHECK (kind IN ('available', 'unavailable')),
                weekday INTEGER CHECK (weekday BETWEEN 1 AND 7),
                date TEXT,
                start_minute INTEGER NOT NULL,
                end_minute INTEGER NOT NULL,
                slot_length INTEGER,
                valid_from TEXT,
                valid_until TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                CHECK ((weekday IS NULL) != (date IS NULL))
            );
            CREATE INDEX availabilities_by_company ON availabilities(company_id, user_id, id);
            CREATE INDEX availabilities_by_user ON availabilities(user_id);
            """
        ),
    ]

    static func apply(to connection: Connection) throws {
        try connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        )
        let applied = Set(try connection.query("SELECT version FROM schema_migrations").compactMap { $0.int(0) })
        if let newest = applied.max(), newest > all.last!.version {
            throw SQLiteError(
                code: 0,
                message:
                    "the database has schema version \(newest) but this build knows only up to \(all.last!.version); run a newer Sprechstunde"
            )
        }
        for migration in all where !applied.contains(Int64(migration.version)) {
            try connection.execute("BEGIN IMMEDIATE")
            do {
                try connection.execute(migration.sql)
                try connection.run(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, unixepoch())",
                    [.int(Int64(migration.version)), .text(migration.name)])
                try connection.execute("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        }
    }
}
