# Two products share a SKU: the unique index of the last migration must
# wait until they are told apart.
class SeedProducts < ActiveRecord::Migration[6.1]
  def up
    execute <<~SQL
      INSERT INTO products (title, sku, created_at, updated_at) VALUES
        ('kettle', 'K-1', NOW(), NOW()),
        ('kettle, blue', 'K-1', NOW(), NOW()),
        ('teapot', 'T-1', NOW(), NOW())
    SQL
  end

  def down
    execute "DELETE FROM products"
  end
end
