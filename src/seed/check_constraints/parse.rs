//! The tolerant tokenizer and recursive-descent parser under CHECK-constraint reading: an
//! expression as each engine prints it back, as a tree of the forms the rules know.

use crate::engine::Engine;

/// The expression tree of one CHECK constraint; what it cannot read is [`Node::Other`].
pub(super) fn parse(engine: Engine, text: &str) -> Node {
    let tokens = tokenize(engine, text);
    let mut parser = Parser { tokens, pos: 0 };
    parser.or()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An identifier; `true` when it was quoted (never a keyword then).
    Ident(String, bool),
    Num(f64),
    Str(String),
    Op(String),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Comma,
}

fn tokenize(engine: Engine, text: &str) -> Vec<Tok> {
    // MySQL's information_schema shows `_utf8mb4\'a\'`: when every quote is escaped, the
    // escapes are an artefact of the display, not part of the expression.
    let unescaped;
    let text = if engine == Engine::Mysql
        && text.contains("\\'")
        && text.matches('\'').count() == text.matches("\\'").count()
    {
        unescaped = text.replace("\\'", "'");
        unescaped.as_str()
    } else {
        text
    };
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let quoted = |i: &mut usize, close: char, backslash: bool| {
        let mut out = String::new();
        *i += 1;
        while *i < chars.len() {
            let c = chars[*i];
            if backslash && c == '\\' && *i + 1 < chars.len() {
                out.push(chars[*i + 1]);
                *i += 2;
                continue;
            }
            if c == close {
                if chars.get(*i + 1) == Some(&close) {
                    out.push(close);
                    *i += 2;
                    continue;
                }
                *i += 1;
                return out;
            }
            out.push(c);
            *i += 1;
        }
        out
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            tokens.push(Tok::Str(quoted(&mut i, '\'', engine == Engine::Mysql)));
        } else if c == '"' && engine == Engine::Mysql {
            tokens.push(Tok::Str(quoted(&mut i, '"', true)));
        } else if c == '"' {
            tokens.push(Tok::Ident(quoted(&mut i, '"', false), true));
        } else if c == '`' {
            tokens.push(Tok::Ident(quoted(&mut i, '`', false), true));
        } else if c == '[' && engine == Engine::Sqlite {
            tokens.push(Tok::Ident(quoted(&mut i, ']', false), true));
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = chars[start..i].iter().collect();
            tokens.push(Tok::Num(text.parse().unwrap_or(0.0)));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            tokens.push(Tok::Ident(chars[start..i].iter().collect(), false));
        } else {
            i += 1;
            match c {
                '(' => tokens.push(Tok::Open),
                ')' => tokens.push(Tok::Close),
                '[' => tokens.push(Tok::OpenBracket),
                ']' => tokens.push(Tok::CloseBracket),
                ',' => tokens.push(Tok::Comma),
                _ => {
                    let mut op = c.to_string();
                    if let Some(&next) = chars.get(i)
                        && matches!(
                            (c, next),
                            (':', ':')
                                | ('>', '=')
                                | ('<', '=')
                                | ('<', '>')
                                | ('!', '=')
                                | ('=', '=')
                                | ('|', '|')
                        )
                    {
                        op.push(next);
                        i += 1;
                    }
                    tokens.push(Tok::Op(op));
                }
            }
        }
    }
    tokens
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub(super) fn of(op: &str) -> Option<Cmp> {
        Some(match op {
            "=" | "==" => Cmp::Eq,
            "<>" | "!=" => Cmp::Ne,
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            ">" => Cmp::Gt,
            ">=" => Cmp::Ge,
            _ => return None,
        })
    }

    pub(super) fn flip(self) -> Cmp {
        match self {
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
            other => other,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Col(String),
    Num(f64),
    Str(String),
    Null,
    Call(String, Vec<Node>),
    List(Vec<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Cmp(Box<Node>, Cmp, Box<Node>),
    In(Box<Node>, Vec<Node>, bool),
    Between(Box<Node>, Box<Node>, Box<Node>),
    IsNull(Box<Node>, bool),
    Other,
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn peek_at(&self, offset: usize) -> Option<&Tok> {
        self.tokens.get(self.pos + offset)
    }

    fn next(&mut self) -> Option<Tok> {
        let tok = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        tok
    }

    fn keyword_at(&self, offset: usize, word: &str) -> bool {
        matches!(self.peek_at(offset), Some(Tok::Ident(w, false)) if w.eq_ignore_ascii_case(word))
    }

    fn keyword(&self, word: &str) -> bool {
        self.keyword_at(0, word)
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.keyword(word);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Skips to just past the parenthesis closing the one already consumed.
    fn skip_group(&mut self) {
        let mut depth = 1;
        while let Some(tok) = self.next() {
            match tok {
                Tok::Open | Tok::OpenBracket => depth += 1,
                Tok::Close | Tok::CloseBracket => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    fn or(&mut self) -> Node {
        let mut items = vec![self.and()];
        while self.eat_keyword("or") {
            items.push(self.and());
        }
        if items.len() == 1 {
            items.pop().unwrap_or(Node::Other)
        } else {
            Node::Or(items)
        }
    }

    fn and(&mut self) -> Node {
        let mut items = vec![self.not()];
        while self.eat_keyword("and") {
            items.push(self.not());
        }
        if items.len() == 1 {
            items.pop().unwrap_or(Node::Other)
        } else {
            Node::And(items)
        }
    }

    fn not(&mut self) -> Node {
        if self.eat_keyword("not") {
            return Node::Not(Box::new(self.not()));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Node {
        let left = self.additive();
        let negated = self.keyword("not")
            && [
                "in", "between", "like", "ilike", "regexp", "rlike", "glob", "similar",
            ]
            .iter()
            .any(|w| self.keyword_at(1, w));
        if negated {
            self.pos += 1;
        }
        match self.peek().cloned() {
            Some(Tok::Op(op)) if Cmp::of(&op).is_some() => {
                self.pos += 1;
                let cmp = Cmp::of(&op).unwrap_or(Cmp::Eq);
                if self.eat_keyword("any") || self.eat_keyword("some") {
                    let items = match self.primary() {
                        Node::List(items) => Some(items),
                        _ => None,
                    };
                    return match (cmp, items) {
                        (Cmp::Eq, Some(items)) => Node::In(Box::new(left), items, false),
                        _ => Node::Other,
                    };
                }
                if self.eat_keyword("all") {
                    let items = match self.primary() {
                        Node::List(items) => Some(items),
                        _ => None,
                    };
                    return match (cmp, items) {
                        (Cmp::Ne, Some(items)) => Node::In(Box::new(left), items, true),
                        _ => Node::Other,
                    };
                }
                let right = self.additive();
                Node::Cmp(Box::new(left), cmp, Box::new(right))
            }
            Some(Tok::Ident(word, false)) if word.eq_ignore_ascii_case("in") => {
                self.pos += 1;
                match self.primary() {
                    Node::List(items) => Node::In(Box::new(left), items, negated),
                    single @ (Node::Num(_) | Node::Str(_)) => {
                        Node::In(Box::new(left), vec![single], negated)
                    }
                    _ => Node::Other,
                }
            }
            Some(Tok::Ident(word, false)) if word.eq_ignore_ascii_case("between") => {
                self.pos += 1;
                self.eat_keyword("symmetric");
                let low = self.additive();
                if !self.eat_keyword("and") {
                    return Node::Other;
                }
                let high = self.additive();
                if negated {
                    Node::Other
                } else {
                    Node::Between(Box::new(left), Box::new(low), Box::new(high))
                }
            }
            Some(Tok::Ident(word, false)) if word.eq_ignore_ascii_case("is") => {
                self.pos += 1;
                let not = self.eat_keyword("not");
                if self.eat_keyword("null") {
                    Node::IsNull(Box::new(left), not)
                } else {
                    // IS [NOT] TRUE / DISTINCT FROM x / JSON ...
                    self.eat_keyword("distinct");
                    self.eat_keyword("from");
                    let _ = self.additive();
                    Node::Other
                }
            }
            Some(Tok::Ident(word, false))
                if [
                    "like", "ilike", "regexp", "rlike", "glob", "similar", "match",
                ]
                .iter()
                .any(|w| word.eq_ignore_ascii_case(w)) =>
            {
                self.pos += 1;
                self.eat_keyword("to");
                let _ = self.additive();
                if self.eat_keyword("escape") {
                    let _ = self.additive();
                }
                Node::Other
            }
            Some(Tok::Op(op)) if op.starts_with('~') || op == "!" => {
                // PostgreSQL regular expressions: `~`, `~*`, `!~`...
                while matches!(self.peek(), Some(Tok::Op(o)) if o == "~" || o == "*" || o == "!") {
                    self.pos += 1;
                }
                let _ = self.additive();
                Node::Other
            }
            _ => left,
        }
    }

    fn additive(&mut self) -> Node {
        let mut node = self.unary();
        while let Some(Tok::Op(op)) = self.peek() {
            if !matches!(
                op.as_str(),
                "+" | "-" | "*" | "/" | "%" | "||" | "&" | "|" | "^"
            ) {
                break;
            }
            self.pos += 1;
            let _ = self.unary();
            node = Node::Other;
        }
        node
    }

    fn unary(&mut self) -> Node {
        match self.peek() {
            Some(Tok::Op(op)) if op == "-" => {
                self.pos += 1;
                match self.unary() {
                    Node::Num(n) => Node::Num(-n),
                    Node::Str(s) => match s.trim().parse::<f64>() {
                        Ok(n) => Node::Num(-n),
                        Err(_) => Node::Other,
                    },
                    _ => Node::Other,
                }
            }
            Some(Tok::Op(op)) if op == "+" => {
                self.pos += 1;
                self.unary()
            }
            _ => {
                let node = self.primary();
                self.postfix(node)
            }
        }
    }

    /// Casts (`::type`, with PostgreSQL's multi-word type names), COLLATE and subscripts
    /// change nothing the rules care about.
    fn postfix(&mut self, node: Node) -> Node {
        loop {
            match self.peek() {
                Some(Tok::Op(op)) if op == "::" => {
                    self.pos += 1;
                    self.skip_type();
                }
                Some(Tok::Ident(word, false)) if word.eq_ignore_ascii_case("collate") => {
                    self.pos += 2;
                }
                Some(Tok::OpenBracket) => {
                    self.pos += 1;
                    self.skip_group();
                }
                _ => return node,
            }
        }
    }

    fn skip_type(&mut self) {
        const CONTINUATIONS: &[&str] = &["varying", "precision", "without", "with", "time", "zone"];
        if matches!(self.peek(), Some(Tok::Ident(..))) {
            self.pos += 1;
        }
        while matches!(self.peek(), Some(Tok::Op(op)) if op == ".")
            && matches!(self.peek_at(1), Some(Tok::Ident(..)))
        {
            self.pos += 2;
        }
        loop {
            if CONTINUATIONS.iter().any(|w| self.keyword(w)) {
                self.pos += 1;
            } else if matches!(self.peek(), Some(Tok::Open | Tok::OpenBracket)) {
                self.pos += 1;
                self.skip_group();
            } else {
                return;
            }
        }
    }

    fn list_until(&mut self, close: &Tok) -> Vec<Node> {
        let mut items = Vec::new();
        loop {
            match self.peek() {
                None => return items,
                Some(tok) if tok == close => {
                    self.pos += 1;
                    return items;
                }
                Some(Tok::Comma) => {
                    self.pos += 1;
                }
                Some(Tok::Ident(word, false))
                    if ["both", "leading", "trailing", "from", "as", "distinct"]
                        .iter()
                        .any(|w| word.eq_ignore_ascii_case(w)) =>
                {
                    self.pos += 1;
                }
                _ => {
                    let before = self.pos;
                    items.push(self.or());
                    if self.pos == before {
                        self.pos += 1; // never loop on a token nothing consumes
                    }
                }
            }
        }
    }

    fn primary(&mut self) -> Node {
        let Some(tok) = self.next() else {
            return Node::Other;
        };
        match tok {
            Tok::Open => {
                let mut items = self.list_until(&Tok::Close);
                if items.len() == 1 {
                    items.pop().unwrap_or(Node::Other)
                } else {
                    Node::List(items)
                }
            }
            Tok::Num(n) => Node::Num(n),
            Tok::Str(s) => Node::Str(s),
            Tok::Ident(word, false) if word.eq_ignore_ascii_case("null") => Node::Null,
            Tok::Ident(word, false)
                if word.eq_ignore_ascii_case("array") && self.peek() == Some(&Tok::OpenBracket) =>
            {
                self.pos += 1;
                Node::List(self.list_until(&Tok::CloseBracket))
            }
            Tok::Ident(word, false)
                if word.eq_ignore_ascii_case("cast") && self.peek() == Some(&Tok::Open) =>
            {
                self.pos += 1;
                let inner = self.or();
                if self.eat_keyword("as") {
                    self.skip_type();
                }
                if self.peek() == Some(&Tok::Close) {
                    self.pos += 1;
                } else {
                    self.skip_group();
                }
                inner
            }
            // MySQL charset introducer: _utf8mb4'a'.
            Tok::Ident(word, false)
                if word.starts_with('_') && matches!(self.peek(), Some(Tok::Str(_))) =>
            {
                self.primary()
            }
            Tok::Ident(word, _) => {
                if self.peek() == Some(&Tok::Open) {
                    self.pos += 1;
                    let args = self.list_until(&Tok::Close);
                    return Node::Call(word.to_ascii_lowercase(), args);
                }
                let mut name = word;
                while matches!(self.peek(), Some(Tok::Op(op)) if op == ".") {
                    match self.peek_at(1).cloned() {
                        Some(Tok::Ident(next, _)) => {
                            name = next;
                            self.pos += 2;
                        }
                        _ => break,
                    }
                }
                Node::Col(name)
            }
            _ => Node::Other,
        }
    }
}
