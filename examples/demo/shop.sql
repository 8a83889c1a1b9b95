-- The demo's main file: a small shop. Built by examples/build_demo.py.
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    country CHAR(2) DEFAULT 'NL',
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE products (
    sku VARCHAR(32) PRIMARY KEY,
    title TEXT NOT NULL,
    price DECIMAL(10, 2) NOT NULL,
    weight_kg REAL,
    active BOOLEAN NOT NULL DEFAULT 1
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    ordered_at TIMESTAMP NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'new'
);
CREATE TABLE order_lines (
    order_id INTEGER NOT NULL REFERENCES orders (id),
    line_no INTEGER NOT NULL,
    sku VARCHAR(32) NOT NULL REFERENCES products,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, line_no)
);
CREATE UNIQUE INDEX order_lines_one_sku ON order_lines (order_id, sku);
CREATE VIEW order_totals AS
    SELECT o.id AS order_id, o.customer_id, SUM(l.quantity * p.price) AS total
    FROM orders AS o
    JOIN order_lines AS l ON l.order_id = o.id
    JOIN products AS p ON p.sku = l.sku
    GROUP BY o.id, o.customer_id;
