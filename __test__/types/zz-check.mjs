// Typed pg-boss code, as an ESM user writes it, compiled against 'pg-boss-native'.
// Type-checked only (noEmit); never run.
var __awaiter = (this && this.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};
var __generator = (this && this.__generator) || function (thisArg, body) {
    var _ = { label: 0, sent: function() { if (t[0] & 1) throw t[1]; return t[1]; }, trys: [], ops: [] }, f, y, t, g = Object.create((typeof Iterator === "function" ? Iterator : Object).prototype);
    return g.next = verb(0), g["throw"] = verb(1), g["return"] = verb(2), typeof Symbol === "function" && (g[Symbol.iterator] = function() { return this; }), g;
    function verb(n) { return function (v) { return step([n, v]); }; }
    function step(op) {
        if (f) throw new TypeError("Generator is already executing.");
        while (g && (g = 0, op[0] && (_ = 0)), _) try {
            if (f = 1, y && (t = op[0] & 2 ? y["return"] : op[0] ? y["throw"] || ((t = y["return"]) && t.call(y), 0) : y.next) && !(t = t.call(y, op[1])).done) return t;
            if (y = 0, t) op = [op[0] & 2, t.value];
            switch (op[0]) {
                case 0: case 1: t = op; break;
                case 4: _.label++; return { value: op[1], done: false };
                case 5: _.label++; y = op[1]; op = [0]; continue;
                case 7: op = _.ops.pop(); _.trys.pop(); continue;
                default:
                    if (!(t = _.trys, t = t.length > 0 && t[t.length - 1]) && (op[0] === 6 || op[0] === 2)) { _ = 0; continue; }
                    if (op[0] === 3 && (!t || (op[1] > t[0] && op[1] < t[3]))) { _.label = op[1]; break; }
                    if (op[0] === 6 && _.label < t[1]) { _.label = t[1]; t = op; break; }
                    if (t && _.label < t[2]) { _.label = t[2]; _.ops.push(op); break; }
                    if (t[2]) _.ops.pop();
                    _.trys.pop(); continue;
            }
            op = body.call(thisArg, _);
        } catch (e) { op = [6, e]; y = 0; } finally { f = t = 0; }
        if (op[0] & 5) throw op[1]; return { value: op[0] ? op[1] : void 0, done: true };
    }
};
var __spreadArray = (this && this.__spreadArray) || function (to, from, pack) {
    if (pack || arguments.length === 2) for (var i = 0, l = from.length, ar; i < l; i++) {
        if (ar || !(i in from)) {
            if (!ar) ar = Array.prototype.slice.call(from, 0, i);
            ar[i] = from[i];
        }
    }
    return to.concat(ar || Array.prototype.slice.call(from));
};
import PgBoss, { UnrecoverableError, events, getConstructionPlans, policies, states } from 'pg-boss-native';
// both import forms name the same class
var DefaultClass = PgBoss;
var boss = new DefaultClass({ connectionString: 'postgres://localhost/app', schema: 'jobs' });
var other = new PgBoss('postgres://localhost/app');
export function lifecycle() {
    return __awaiter(this, void 0, void 0, function () {
        var started;
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0:
                    boss.on('error', function (err) { return console.error(err.message); });
                    boss.on('warning', function (warning) { return console.warn(warning.message, warning.data); });
                    boss.on('wip', function (workers) { return workers.forEach(function (w) { return console.log(w.name, w.state, w.count); }); });
                    boss.once('stopped', function () { });
                    return [4 /*yield*/, boss.start()];
                case 1:
                    started = _a.sent();
                    return [4 /*yield*/, other.stop({ graceful: true, timeout: 5000 })];
                case 2:
                    _a.sent();
                    return [2 /*return*/, started];
            }
        });
    });
}
export function queues() {
    return __awaiter(this, void 0, void 0, function () {
        var queue, all, stats;
        var _a;
        return __generator(this, function (_b) {
            switch (_b.label) {
                case 0: return [4 /*yield*/, boss.createQueue('email', { policy: policies.standard, retryLimit: 3, deadLetter: 'email-dlq' })];
                case 1:
                    _b.sent();
                    return [4 /*yield*/, boss.updateQueue('email', { retryDelayMax: null, heartbeatSeconds: 30 })];
                case 2:
                    _b.sent();
                    return [4 /*yield*/, boss.getQueue('email')];
                case 3:
                    queue = _b.sent();
                    return [4 /*yield*/, boss.getQueues(['email'])];
                case 4:
                    all = _b.sent();
                    return [4 /*yield*/, boss.getQueueStats('email', { force: true })];
                case 5:
                    stats = _b.sent();
                    return [2 /*return*/, ((_a = queue === null || queue === void 0 ? void 0 : queue.queuedCount) !== null && _a !== void 0 ? _a : 0) + all.length + stats[0].readyCount];
            }
        });
    });
}
export function sending() {
    return __awaiter(this, void 0, void 0, function () {
        var options, id, ids;
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0:
                    options = { priority: 2, startAfter: new Date(), singletonKey: 'k', retryLimit: 1 };
                    return [4 /*yield*/, boss.send('email', { to: 'a@b.c', subject: 'hi' }, options)];
                case 1:
                    id = _a.sent();
                    return [4 /*yield*/, boss.send({ name: 'email', data: { to: 'x' }, options: { expireInSeconds: 60 } })];
                case 2:
                    _a.sent();
                    return [4 /*yield*/, boss.sendAfter('email', {}, null, 30)];
                case 3:
                    _a.sent();
                    return [4 /*yield*/, boss.sendAfter('email', {}, { priority: 1 }, new Date())];
                case 4:
                    _a.sent();
                    return [4 /*yield*/, boss.sendThrottled('email', {}, null, 60, 'key')];
                case 5:
                    _a.sent();
                    return [4 /*yield*/, boss.sendDebounced('email', null, {}, 60)];
                case 6:
                    _a.sent();
                    return [4 /*yield*/, boss.insert('email', [{ data: { to: 'a' } }, { data: { to: 'b' }, priority: 1 }], { returnId: true })];
                case 7:
                    ids = _a.sent();
                    return [2 /*return*/, __spreadArray([id !== null && id !== void 0 ? id : ''], (ids !== null && ids !== void 0 ? ids : []), true)];
            }
        });
    });
}
export function fetching() {
    return __awaiter(this, void 0, void 0, function () {
        var jobs, _i, jobs_1, job, to, detailed, state, found, one;
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0: return [4 /*yield*/, boss.fetch('email', { batchSize: 10 })];
                case 1:
                    jobs = _a.sent();
                    _i = 0, jobs_1 = jobs;
                    _a.label = 2;
                case 2:
                    if (!(_i < jobs_1.length)) return [3 /*break*/, 5];
                    job = jobs_1[_i];
                    to = job.data.to;
                    return [4 /*yield*/, boss.complete('email', job.id, { sentTo: to })];
                case 3:
                    _a.sent();
                    _a.label = 4;
                case 4:
                    _i++;
                    return [3 /*break*/, 2];
                case 5: return [4 /*yield*/, boss.fetch('email', { includeMetadata: true })];
                case 6:
                    detailed = _a.sent();
                    state = detailed[0].state;
                    return [4 /*yield*/, boss.fail('email', detailed.map(function (j) { return j.id; }), { reason: state })];
                case 7:
                    _a.sent();
                    return [4 /*yield*/, boss.complete('email', { id: detailed[0].id, retryCount: detailed[0].retryCount })];
                case 8:
                    _a.sent();
                    return [4 /*yield*/, boss.cancel('email', 'id')];
                case 9:
                    _a.sent();
                    return [4 /*yield*/, boss.resume('email', ['a', 'b'])];
                case 10:
                    _a.sent();
                    return [4 /*yield*/, boss.deleteJob('email', 'id', { db: boss.getDb() })];
                case 11:
                    _a.sent();
                    return [4 /*yield*/, boss.findJobs('email', { queued: true, limit: 5 })];
                case 12:
                    found = _a.sent();
                    return [4 /*yield*/, boss.getJobById('email', 'id')];
                case 13:
                    one = _a.sent();
                    console.log(found[0].data.subject, one === null || one === void 0 ? void 0 : one.output);
                    return [2 /*return*/];
            }
        });
    });
}
var sendEmail = function (jobs) { return __awaiter(void 0, void 0, void 0, function () { return __generator(this, function (_a) {
    return [2 /*return*/, ({ messageId: jobs[0].data.to })];
}); }); };
export function workers() {
    return __awaiter(this, void 0, void 0, function () {
        var a, b, c, d, e, f, dynamic, g;
        var _this = this;
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0: return [4 /*yield*/, boss.work('email', sendEmail)];
                case 1:
                    a = _a.sent();
                    return [4 /*yield*/, boss.work('email', { batchSize: 5, pollingIntervalSeconds: 1 }, function (jobs) { return __awaiter(_this, void 0, void 0, function () {
                            return __generator(this, function (_a) {
                                jobs.forEach(function (job) { return job.signal.throwIfAborted(); });
                                return [2 /*return*/, jobs.map(function (job) { return job.data.subject; })];
                            });
                        }); })
                        // literal flags select the handler type (leave the type arguments to inference, as with pg-boss)
                    ];
                case 2:
                    b = _a.sent();
                    return [4 /*yield*/, boss.work('email', { includeMetadata: true }, function (_a) { return __awaiter(_this, [_a], void 0, function (_b) {
                            var job = _b[0];
                            return __generator(this, function (_c) {
                                return [2 /*return*/, job.createdOn.toISOString()];
                            });
                        }); })
                        // perJobResults: JobResult[] ...
                    ];
                case 3:
                    c = _a.sent();
                    return [4 /*yield*/, boss.work('email', { batchSize: 10, perJobResults: true }, function (jobs) { return __awaiter(_this, void 0, void 0, function () {
                            return __generator(this, function (_a) {
                                return [2 /*return*/, jobs.map(function (job) { return job.data.to ? { id: job.id, status: 'completed', output: { ok: true } } : { id: job.id, status: 'deadletter' }; })];
                            });
                        }); })
                        // ... or, in pg-boss-native, the output of Promise.allSettled
                    ];
                case 4:
                    d = _a.sent();
                    return [4 /*yield*/, boss.work('email', { batchSize: 10, perJobResults: true }, function (jobs) { return __awaiter(_this, void 0, void 0, function () {
                            var _this = this;
                            return __generator(this, function (_a) {
                                return [2 /*return*/, Promise.allSettled(jobs.map(function (job) { return __awaiter(_this, void 0, void 0, function () {
                                        return __generator(this, function (_a) {
                                            if (!job.data.to)
                                                throw new UnrecoverableError('no recipient');
                                            return [2 /*return*/, { messageId: job.id }];
                                        });
                                    }); }))];
                            });
                        }); })];
                case 5:
                    e = _a.sent();
                    return [4 /*yield*/, boss.work('email', { perJobResults: true, includeMetadata: true }, function (jobs) { return __awaiter(_this, void 0, void 0, function () { return __generator(this, function (_a) {
                            return [2 /*return*/, jobs.map(function (job) { return ({ id: job.id, status: job.retryCount < job.retryLimit ? 'failed' : 'deadletter' }); })];
                        }); }); })
                        // dynamically built options keep the permissive handler
                    ];
                case 6:
                    f = _a.sent();
                    dynamic = { batchSize: 2, perJobResults: Math.random() > 0.5 };
                    return [4 /*yield*/, boss.work('email', dynamic, function () { return __awaiter(_this, void 0, void 0, function () { return __generator(this, function (_a) {
                            return [2 /*return*/, 'anything'];
                        }); }); })];
                case 7:
                    g = _a.sent();
                    return [4 /*yield*/, boss.offWork('email', { id: a, wait: true })];
                case 8:
                    _a.sent();
                    boss.notifyWorker(b);
                    return [2 /*return*/, [a, b, c, d, e, f, g]];
            }
        });
    });
}
export function perJobWorkers() {
    return __awaiter(this, void 0, void 0, function () {
        var a, options, b, c;
        var _this = this;
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0: return [4 /*yield*/, boss.workEach('email', function (job) { return __awaiter(_this, void 0, void 0, function () { return __generator(this, function (_a) {
                        return [2 /*return*/, ({ messageId: job.data.to })];
                    }); }); })];
                case 1:
                    a = _a.sent();
                    options = { batchSize: 20, concurrency: 4, pollingIntervalSeconds: 0.5 };
                    return [4 /*yield*/, boss.workEach('email', options, function (job) {
                            if (job.signal.aborted)
                                throw new UnrecoverableError('aborted', { cause: job.signal.reason });
                            return job.data.subject.length; // a plain value is fine too
                        })];
                case 2:
                    b = _a.sent();
                    return [4 /*yield*/, boss.workEach('email', { includeMetadata: true, concurrency: 2 }, function (job) { return __awaiter(_this, void 0, void 0, function () { return __generator(this, function (_a) {
                            return [2 /*return*/, job.singletonKey];
                        }); }); })];
                case 3:
                    c = _a.sent();
                    return [2 /*return*/, [a, b, c]];
            }
        });
    });
}
export function observability() {
    var metrics = boss.getMetrics();
    var queue = metrics.queues.email;
    var worker = Object.values(queue.workers)[0];
    var text = boss.getMetrics({ format: 'prometheus' });
    var json = boss.getMetrics({ format: 'json' });
    var wip = boss.getWipData({ includeInternal: false });
    return queue.completed + queue.deadLettered + queue.inFlight + queue.handlerLatencyMs.p99 +
        worker.fetchLatencyMs.max + text.length + Object.keys(json.queues).length + wip.length;
}
export function constants() {
    var err = new UnrecoverableError('bad input');
    var retryable = err.retryable;
    var base = err;
    return [states.completed, policies.key_strict_fifo, events.wip, getConstructionPlans('jobs'), String(retryable), base.message].join();
}
export function rejected() {
    return __awaiter(this, void 0, void 0, function () {
        var metrics, retryable;
        var _this = this;
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0: 
                // (expect error)
                return [4 /*yield*/, boss.send('email', 42)
                    // (expect error)
                ];
                case 1:
                    // (expect error)
                    _a.sent();
                    // (expect error)
                    return [4 /*yield*/, boss.work('email', function (job) { return __awaiter(_this, void 0, void 0, function () { return __generator(this, function (_a) {
                            return [2 /*return*/, job.data.to];
                        }); }); })
                        // (expect error)
                    ];
                case 2:
                    // (expect error)
                    _a.sent();
                    // (expect error)
                    return [4 /*yield*/, boss.workEach('email', function (jobs) { return __awaiter(_this, void 0, void 0, function () { return __generator(this, function (_a) {
                            return [2 /*return*/, jobs.length];
                        }); }); })
                        // (expect error)
                    ];
                case 3:
                    // (expect error)
                    _a.sent();
                    // (expect error)
                    return [4 /*yield*/, boss.workEach('email', { batchSize: 5, perJobResults: true }, function () { return __awaiter(_this, void 0, void 0, function () { return __generator(this, function (_a) {
                            return [2 /*return*/, null];
                        }); }); })
                        // (expect error)
                    ];
                case 4:
                    // (expect error)
                    _a.sent();
                    // (expect error)
                    return [4 /*yield*/, boss.work('email', { perJobResults: true }, function () { return __awaiter(_this, void 0, void 0, function () { return __generator(this, function (_a) {
                            return [2 /*return*/, 'done'];
                        }); }); })
                        // (expect error)
                    ];
                case 5:
                    // (expect error)
                    _a.sent();
                    // (expect error)
                    return [4 /*yield*/, boss.work('email', function (jobs) { return __awaiter(_this, void 0, void 0, function () { return __generator(this, function (_a) {
                            return [2 /*return*/, jobs[0].data.from];
                        }); }); })
                        // (expect error)
                    ];
                case 6:
                    // (expect error)
                    _a.sent();
                    metrics = boss.getMetrics({ format: 'prometheus' });
                    // (expect error)
                    boss.on('finished', function () { });
                    retryable = new UnrecoverableError('x').retryable;
                    console.log(metrics, retryable);
                    return [2 /*return*/];
            }
        });
    });
}
