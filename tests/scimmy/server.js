// SCIMMY 1.3.5 + scimmy-routers 1.3.2 on express, with an in-memory store, on a free
// loopback port (printed on the first line of stdout). Started by tests/scimmy_harness.py.
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const TOKEN = process.argv[2] ?? "token";
const stores = {User: new Map(), Group: new Map()};
let nextId = 1;

function notFound(id) {
    return new SCIMMY.Types.Error(404, null, `Resource ${id} not found`);
}

function declare(Resource, kind) {
    const store = stores[kind];
    Resource.ingress((resource, data) => {
        const now = new Date().toISOString();
        const previous = resource.id ? store.get(resource.id) : undefined;
        if (resource.id && !previous) throw notFound(resource.id);
        if (kind === "User") {
            const name = String(data.userName ?? "").toLowerCase();
            for (const other of store.values()) {
                if (other.id !== resource.id && String(other.userName).toLowerCase() === name) {
                    throw new SCIMMY.Types.Error(409, "uniqueness", `userName ${data.userName} is taken`);
                }
            }
        }
        const id = resource.id ?? String(nextId++);
        const record = {...data, id, meta: {created: previous?.meta?.created ?? now, lastModified: now}};
        store.set(id, record);
        return record;
    });
    Resource.egress((resource) => {
        if (resource.id) {
            const found = store.get(resource.id);
            if (!found) throw notFound(resource.id);
            return found;
        }
        // SCIMMY leaves filtering to the store: match the parsed filter here.
        const all = [...store.values()];
        return resource.filter ? resource.filter.match(all) : all;
    });
    Resource.degress((resource) => {
        if (!store.delete(resource.id)) throw notFound(resource.id);
    });
}

SCIMMY.Resources.declare(SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false));
SCIMMY.Resources.declare(SCIMMY.Resources.Group);
declare(SCIMMY.Resources.User, "User");
declare(SCIMMY.Resources.Group, "Group");

const app = express();
app.use("/scim", new SCIMMYRouters({
    type: "bearer",
    handler: (request) => {
        if (request.header("Authorization") !== `Bearer ${TOKEN}`) throw new Error("Authorization not valid");
        return "scimctl";
    },
}));
const server = app.listen(0, "127.0.0.1", () => console.log(server.address().port));
