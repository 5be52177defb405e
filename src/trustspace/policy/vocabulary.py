"""The names a policy may use: ODRL 2.2 actions, operators and left operands, and the TC609 profile.

The TC609 dictionary (TC609-6-2025-14 tables C.5 and C.6) is published here as an ODRL profile: its actions and
constraint names live in their own namespace, shipped as ``contexts/tc609-odrl-profile.jsonld``. A name is
accepted bare (``count``), with the prefix of the vocabulary that defines it (``odrl:count``, ``tc609:count``)
or as a full IRI. A prefix that does not define the name is an error, not a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ODRL = "http://www.w3.org/ns/odrl/2/"
# The profile a policy using TC609 terms names in its "profile", and the namespace of those terms.
PROFILE = "https://w3id.org/trustspace/tc609-odrl-profile"
TC609 = PROFILE + "#"
TRUSTSPACE = "https://w3id.org/trustspace/ns#"
PREFIXES = {"odrl": ODRL, "tc609": TC609, "trustspace": TRUSTSPACE}


class Operator(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    GT = "gt"
    GTEQ = "gteq"
    LT = "lt"
    LTEQ = "lteq"
    HAS_PART = "hasPart"
    IS_A = "isA"
    IS_ALL_OF = "isAllOf"
    IS_ANY_OF = "isAnyOf"
    IS_NONE_OF = "isNoneOf"
    IS_PART_OF = "isPartOf"


SYMBOL = {Operator.EQ: "=", Operator.NEQ: "≠", Operator.GT: ">", Operator.GTEQ: "≥", Operator.LT: "<",
          Operator.LTEQ: "≤", Operator.HAS_PART: "has part", Operator.IS_A: "is a",
          Operator.IS_ALL_OF: "is all of", Operator.IS_ANY_OF: "is any of", Operator.IS_NONE_OF: "is none of",
          Operator.IS_PART_OF: "is part of"}
SYMBOL_ZH = {**SYMBOL, Operator.HAS_PART: "包含", Operator.IS_A: "属于类别", Operator.IS_ALL_OF: "全部为",
             Operator.IS_ANY_OF: "为其中之一", Operator.IS_NONE_OF: "不为其中任何一个", Operator.IS_PART_OF: "位于"}

ORDER = frozenset({Operator.EQ, Operator.NEQ, Operator.GT, Operator.GTEQ, Operator.LT, Operator.LTEQ})
SCALAR = frozenset({Operator.EQ, Operator.NEQ, Operator.IS_ANY_OF, Operator.IS_NONE_OF})
SETS = frozenset({Operator.EQ, Operator.NEQ, Operator.IS_ALL_OF, Operator.IS_ANY_OF, Operator.IS_NONE_OF,
                  Operator.IS_PART_OF, Operator.HAS_PART})


class Kind(StrEnum):
    """How a left operand's values are written and compared (see ``values.py``)."""

    DATETIME = "dateTime"
    TIME_RANGE = "time"          # a dateTime, or an ISO 8601 interval "start/end" with isPartOf
    WINDOW = "timeWindow"        # a daily window "HH:MM-HH:MM" (UTC)
    INTEGER = "integer"
    DECIMAL = "decimal"
    TEXT = "text"
    REGION = "region"            # codes such as CN-31-01; "CN-31" is part of "CN"
    NETWORK = "networkAddress"   # an IP address or CIDR network
    MAC = "physicalAddress"
    CODE = "code"                # one of a fixed list of two-digit codes
    TEXT_SET = "textSet"


@dataclass(frozen=True, slots=True)
class LeftOperand:
    name: str
    vocabularies: frozenset[str]
    kind: Kind
    operators: frozenset[Operator]
    en: str
    zh: str
    units: frozenset[str] = frozenset()
    codes: tuple[str, ...] = ()
    unit_required: bool = False


_TEXT_OPS = SCALAR | {Operator.IS_A, Operator.IS_PART_OF, Operator.HAS_PART}
_PLACE_OPS = SCALAR | {Operator.IS_PART_OF, Operator.HAS_PART}
TIME_UNITS = frozenset({"minute", "hour", "day"})
SIZE_UNITS = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
              "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
CURRENCIES = frozenset({"CNY", "USD", "EUR", "HKD"})
_EXEC_ENV = ("01", "02", "03", "04", "05", "06", "07")


def _op(name: str, vocabularies: str, kind: Kind, operators: frozenset[Operator], en: str, zh: str,
        **more: object) -> LeftOperand:
    return LeftOperand(name, frozenset(vocabularies.split()), kind, operators, en, zh, **more)  # type: ignore[arg-type]


LEFT_OPERANDS: dict[str, LeftOperand] = {o.name: o for o in (
    _op("dateTime", "odrl", Kind.DATETIME, ORDER, "date and time", "日期时间"),
    _op("purpose", "odrl", Kind.TEXT, _TEXT_OPS, "purpose", "使用目的"),
    _op("recipient", "odrl", Kind.TEXT, _TEXT_OPS, "recipient", "接收方"),
    _op("spatial", "odrl", Kind.REGION, _PLACE_OPS, "place", "地点"),
    _op("count", "odrl tc609", Kind.INTEGER, ORDER, "number of uses", "使用次数"),
    _op("payAmount", "odrl tc609", Kind.DECIMAL, ORDER, "amount paid", "交易金额", units=CURRENCIES),
    _op("time", "tc609", Kind.TIME_RANGE, ORDER | {Operator.IS_PART_OF}, "time range", "时间范围"),
    _op("timeWindow", "tc609", Kind.WINDOW, frozenset({Operator.IS_PART_OF, Operator.IS_ANY_OF,
                                                       Operator.IS_NONE_OF}), "time of day", "时间窗口"),
    _op("region", "tc609", Kind.REGION, _PLACE_OPS, "region", "限制地域"),
    _op("networkAddress", "tc609", Kind.NETWORK, SCALAR | {Operator.IS_PART_OF}, "network address", "网络地址"),
    _op("physicalAddress", "tc609", Kind.MAC, SCALAR, "physical address", "物理地址"),
    _op("frequency", "tc609", Kind.INTEGER, ORDER, "uses per time unit", "使用频次", units=TIME_UNITS,
        unit_required=True),
    _op("dataSize", "tc609", Kind.INTEGER, ORDER, "data size", "数据规模", units=frozenset(SIZE_UNITS)),
    _op("dataRecord", "tc609", Kind.INTEGER, ORDER, "number of records", "数据记录数"),
    _op("dataField", "tc609", Kind.TEXT_SET, SETS, "data fields", "数据字段"),
    _op("valueExpression", "tc609", Kind.TEXT, SCALAR, "field value expression", "数据字段值"),
    _op("application", "tc609", Kind.TEXT, _TEXT_OPS, "application", "应用程序"),
    _op("algorithm", "tc609", Kind.TEXT, _TEXT_OPS, "algorithm", "算法"),
    _op("machineLearningModels", "tc609", Kind.TEXT, _TEXT_OPS, "machine-learning model", "机器学习模型"),
    _op("executionEnv", "tc609", Kind.CODE, SCALAR, "execution environment", "执行环境", codes=_EXEC_ENV),
    _op("encryptMode", "tc609", Kind.CODE, SCALAR, "encryption mode", "加密方式", codes=("01", "02", "03")),
    _op("deliveryMethod", "tc609", Kind.CODE, SCALAR, "delivery method", "交付方式",
        codes=("01", "02", "03", "04")),
    # TrustSpace's own: what the connector's first decision point already understood.
    _op("role", "trustspace", Kind.TEXT_SET, SETS, "membership role", "成员角色"),
    _op("space", "trustspace", Kind.TEXT, SCALAR, "data space", "数据空间"),
)}
# The TC609 tables spell two names differently from the issue and the rest of the dictionary.
OPERAND_ALIASES = {"dateRecord": "dataRecord"}

# ODRL 2.2 left operands this decision point cannot observe: refused when a policy is created, so that no
# agreement is signed that the connector could never honour.
ODRL_UNSUPPORTED_OPERANDS = frozenset({
    "absolutePosition", "absoluteSpatialPosition", "absoluteTemporalPosition", "absoluteSize", "delayPeriod",
    "deliveryChannel", "elapsedTime", "event", "fileFormat", "industry", "language", "media", "meteredTime",
    "percentage", "product", "relativePosition", "relativeSpatialPosition", "relativeTemporalPosition",
    "relativeSize", "resolution", "spatialCoordinates", "systemDevice", "timeInterval", "unitOfCount", "version",
    "virtualLocation"})


@dataclass(frozen=True, slots=True)
class ActionTerm:
    name: str
    vocabularies: frozenset[str]
    parent: str | None
    en: str
    zh: str


def _act(name: str, vocabularies: str, parent: str | None, en: str, zh: str) -> ActionTerm:
    return ActionTerm(name, frozenset(vocabularies.split()), parent, en, zh)


# ODRL 2.2 Common Vocabulary: every action is included in use or transfer (odrl:includedIn).
_ODRL_USE = {
    "acceptTracking": "accept tracking", "aggregate": "aggregate", "annotate": "annotate", "archive": "archive",
    "attribute": "attribute", "concurrentUse": "concurrent use", "derive": "derive", "digitize": "digitize",
    "display": "display", "ensureExclusivity": "ensure exclusivity", "execute": "execute", "extract": "extract",
    "include": "include", "index": "index", "inform": "inform", "install": "install", "modify": "modify",
    "move": "move", "nextPolicy": "next policy", "obtainConsent": "obtain consent", "play": "play",
    "present": "present", "print": "print", "reviewPolicy": "review policy", "stream": "stream",
    "synchronize": "synchronize", "textToSpeech": "text to speech", "translate": "translate",
    "uninstall": "uninstall", "watermark": "watermark",
    # deprecated in ODRL 2.2 in favour of modify; the ODRL test suite still asks for it
    "write": "write",
}
_ODRL_ZH = {"acceptTracking": "接受跟踪", "aggregate": "聚合", "annotate": "标注", "archive": "归档",
            "attribute": "署名", "concurrentUse": "并发使用", "derive": "衍生", "digitize": "数字化", "display": "展示",
            "ensureExclusivity": "确保独占", "execute": "执行", "extract": "提取", "include": "包含", "index": "索引",
            "inform": "通知", "install": "安装", "modify": "修改", "move": "移动", "nextPolicy": "后续策略",
            "obtainConsent": "取得同意", "play": "播放", "present": "呈现", "print": "打印",
            "reviewPolicy": "审查策略", "stream": "流式传输", "synchronize": "同步", "textToSpeech": "文字转语音",
            "translate": "翻译", "uninstall": "卸载", "watermark": "加水印", "write": "写入"}
ACTIONS: dict[str, ActionTerm] = {a.name: a for a in (
    _act("use", "odrl", None, "use", "使用"),
    _act("transfer", "odrl", None, "transfer", "转让"),
    _act("give", "odrl", "transfer", "give", "赠与"),
    *(_act(name, "odrl", "use", en, _ODRL_ZH[name]) for name, en in _ODRL_USE.items()),
    _act("transform", "odrl tc609", "use", "transform", "转换"),
    _act("anonymize", "odrl tc609", "use", "anonymize", "匿名化"),
    _act("desensitize", "tc609", "use", "desensitize", "脱敏"),
    _act("access", "tc609", "use", "access", "访问"),
    _act("read", "odrl tc609", "use", "read", "读取"),
    _act("reproduce", "odrl tc609", "use", "reproduce", "复制"),
    _act("storage", "tc609", "use", "store", "存储"),
    _act("download", "tc609", "use", "download", "下载"),
    _act("process", "tc609", "use", "process", "加工"),
    _act("jointDevelop", "tc609", "use", "develop jointly", "联合开发"),
    _act("distribute", "odrl tc609", "use", "distribute", "分发"),
    _act("compute", "tc609", "use", "compute", "计算"),
    _act("grantUse", "odrl tc609", "use", "grant use", "授权使用"),
    _act("policyTransmit", "tc609", "use", "pass the policy on", "策略传递"),
    _act("delivery", "tc609", "use", "deliver", "交付"),
    _act("sell", "odrl tc609", "transfer", "sell", "交易"),
    _act("logRecordSend", "tc609", "use", "send usage records", "行为记录发送"),
    _act("delete", "odrl tc609", "use", "delete", "删除"),
    _act("alert", "tc609", "use", "alert", "异常提醒"),
    _act("compensate", "odrl tc609", "use", "compensate", "补偿"),
)}
ACTION_ALIASES = {"plicyTransmit": "policyTransmit"}


def includes(broader: str, narrower: str) -> bool:
    """Whether permitting ``broader`` permits ``narrower`` (the action itself or one included in it)."""
    name: str | None = narrower
    while name is not None:
        if name == broader:
            return True
        term = ACTIONS.get(name)
        name = term.parent if term else None
    return False


def split_name(text: str) -> tuple[str | None, str]:
    """``odrl:read`` -> ("odrl", "read"); a full IRI of a known namespace likewise; a bare name -> (None, name)."""
    for prefix, iri in PREFIXES.items():
        if text.startswith(iri):
            return prefix, text[len(iri):]
    head, sep, tail = text.partition(":")
    if sep and head in PREFIXES:
        return head, tail
    return None, text
