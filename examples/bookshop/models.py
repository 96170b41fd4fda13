"""The bookshop's models: what the migrations must arrive at."""

import sqlalchemy as sa

metadata = sa.MetaData()

authors = sa.Table(
    "authors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
)

books = sa.Table(
    "books",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("author_id", sa.Integer, sa.ForeignKey("authors.id"), nullable=True),
    sa.Column("price_cents", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_books_title", "title"),
)

stock = sa.Table(
    "stock",
    metadata,
    sa.Column("book_id", sa.Integer, sa.ForeignKey("books.id"), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False, server_default="0"),
)
