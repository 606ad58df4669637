-- 0017_activation_events (PostgreSQL 15): as migrations/0017_activation_events.sql.
CREATE FUNCTION events_activation_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.created_at, 'activation.requested',
        NEW.scope_key, json_build_object('activationId', NEW.id,
                                         'eligibilityId', NEW.eligibility_id,
                                         'role', NEW.role, 'principalId', NEW.principal_id,
                                         'requestedBy', NEW.requested_by,
                                         'state', NEW.state)::text);
    IF NEW.state = 'active' THEN
        INSERT INTO events (at, type, scope, data) VALUES (NEW.created_at,
            'activation.activated', NEW.scope_key,
            json_build_object('activationId', NEW.id, 'role', NEW.role,
                              'principalId', NEW.principal_id, 'grantId', NEW.grant_id,
                              'expiresAt', NEW.expires_at, 'state', NEW.state)::text);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_activation_ins AFTER INSERT ON activations
    FOR EACH ROW EXECUTE FUNCTION events_activation_ins();

CREATE FUNCTION events_activation_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IN ('active', 'denied', 'expired', 'cancelled', 'deactivated') THEN
        INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at,
            CASE NEW.state WHEN 'active' THEN 'activation.approved'
                           WHEN 'denied' THEN 'activation.denied'
                           WHEN 'expired' THEN 'activation.expired'
                           ELSE 'activation.deactivated' END,
            NEW.scope_key,
            json_build_object('activationId', NEW.id, 'role', NEW.role,
                              'principalId', NEW.principal_id, 'state', NEW.state,
                              'decidedBy', NEW.decided_by, 'reason', NEW.reason)::text);
    END IF;
    IF NEW.state = 'active' THEN
        INSERT INTO events (at, type, scope, data) VALUES (NEW.updated_at,
            'activation.activated', NEW.scope_key,
            json_build_object('activationId', NEW.id, 'role', NEW.role,
                              'principalId', NEW.principal_id, 'grantId', NEW.grant_id,
                              'expiresAt', NEW.expires_at, 'state', NEW.state)::text);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_activation_upd AFTER UPDATE OF state ON activations
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION events_activation_upd();

CREATE FUNCTION events_activation_grant_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (at, type, scope, data)
    SELECT NEW.updated_at,
           CASE NEW.state WHEN 'expired' THEN 'activation.expired'
                          ELSE 'activation.deactivated' END,
           a.scope_key,
           json_build_object('activationId', a.id, 'role', a.role,
                             'principalId', a.principal_id, 'grantId', NEW.id,
                             'grantState', NEW.state)::text
      FROM activations a WHERE a.id = NEW.activation_id AND a.state = 'active';
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_activation_grant_end AFTER UPDATE OF state ON login_grants
    FOR EACH ROW
    WHEN (NEW.activation_id IS NOT NULL AND OLD.state IS DISTINCT FROM NEW.state
          AND NEW.state IN ('expired', 'revoked', 'failed'))
    EXECUTE FUNCTION events_activation_grant_end();
